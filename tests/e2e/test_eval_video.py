"""The video evaluation command on the real clip: a stable label that still follows neutral -> smile."""

import pytest

from service.config import Settings
from service.evaluate_video import evaluate_clip
from tests.conftest import DATA

pytestmark = pytest.mark.slow


def test_single_face_timeline_is_stable_and_follows_the_smile():
    result = evaluate_clip(Settings(device="cpu"), DATA / "single_face.mp4", fps=10)
    assert result["frames"] == 24 and result["tracks"] == 1 and result["main_track_frames"] == 24
    labels = [label for _, label, _ in result["labels"]]
    flips = sum(a != b for a, b in zip(labels, labels[1:], strict=False))
    assert result["flip_rate"] == pytest.approx(round(flips / 23, 4))
    assert result["flip_rate"] <= 0.1
    seconds = result["per_second_polarity"]
    assert seconds[2].get("positive", 0) > seconds[0].get("positive", 0)  # the smile in the last second
    assert labels[-1] == "happy"
