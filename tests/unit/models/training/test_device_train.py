"""The prepared GPU run, end to end on CPU with a tiny set: the same script and code the device call runs."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.data.packed import pack, residuals, restore, unpack
from models.nets.emotion_net import EmotionNetConfig

REPO = Path(__file__).resolve().parents[4]


def test_packing_restores_faces_bit_for_bit(tiny_fer, tmp_path):
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (9, 48, 48), dtype=np.uint8)
    assert np.array_equal(restore(residuals(noise)), noise)
    pack(tiny_fer, tmp_path / "packed")
    unpack(tmp_path / "packed", tmp_path / "back.npz")
    before, after = np.load(tiny_fer), np.load(tmp_path / "back.npz")
    assert set(before.files) == set(after.files)
    for name in before.files:
        assert np.array_equal(before[name], after[name]) and before[name].dtype == after[name].dtype


@pytest.mark.slow
def test_the_device_script_trains_exports_and_splits_on_cpu(tiny_fer, tmp_path):
    pack(tiny_fer, tmp_path / "packed")
    out = tmp_path / "out"
    env = os.environ | {
        "OUT": str(out),
        "WORK": str(tmp_path / "work"),
        "PACKED": str(tmp_path / "packed"),
        "TRACKS": str(tmp_path / "none.npz"),
        "DEVICE": "cpu",
        "COMPILE": "",
        "TRAIN_BUDGET_S": "600",
        "DRY_STEPS": "2",
        "BATCH": "14",
        "MAX_EPOCHS": "2",
        "THREADS": "2",
        "TEMPORAL": "--stills 14 --val-stills 7 --val-clips 4 --window 4 --steps 2 --eval-every 1 --batch-size 4",
        "PYTHON": sys.executable,
    }
    done = subprocess.run(["bash", "scripts/device_train.sh"], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    dry = json.loads((out / "dry_run.json").read_text())["dry_run"]
    assert dry["model"] == "resnet_ca_18" and dry["steps_per_epoch"] == 2 and dry["epoch_s"] > 0
    log = (out / "train.log").read_text()
    assert "schedule: 2 epochs, the last 1 averaged" in log
    assert "bf16 autocast on, channels-last, compile off, data on the device" in log
    models = json.loads((out / "manifest.json").read_text())["models"]
    emotion, temporal = models["emotion"], models["temporal"]
    assert EmotionNetConfig.from_dict(emotion["architecture"]).widths == (64, 128, 256, 512)
    assert emotion["speed"] == {"bf16_autocast": True, "compile": False, "data_on_device": True}
    parts = sorted(out.glob("emotion.pt.part*"))
    assert parts and all(part.stat().st_size <= 15 * 2**20 for part in parts)
    weights = b"".join(part.read_bytes() for part in parts)
    assert hashlib.sha256(weights).hexdigest() == emotion["sha256"]
    assert temporal["backbone_sha256"] == emotion["sha256"]
    assert hashlib.sha256((out / "temporal.pt").read_bytes()).hexdigest() == temporal["sha256"]
    assert len(list(out.iterdir())) <= 8  # what a device call brings back
