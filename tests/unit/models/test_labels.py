"""The class list is importable without torch: the API process imports it."""

import subprocess
import sys
from pathlib import Path

from models.labels import FER_CLASSES
from models.nets.emotion_net import EmotionNetConfig

REPO = Path(__file__).resolve().parents[3]


def test_labels_and_the_package_import_without_torch() -> None:
    code = "import models, models.labels, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_the_networks_default_to_these_classes() -> None:
    assert FER_CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert EmotionNetConfig(name="x").classes == FER_CLASSES
