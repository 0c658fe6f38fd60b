"""Training the temporal head on a frozen backbone: a tiny run end to end, and what its manifest entry says."""

import json

import torch

from models.nets.temporal_head import TemporalEmotionHead
from models.registry import create_model
from models.training import train_temporal
from models.weights import load_model, save_weights, write_manifest_entry


def test_a_tiny_run_trains_and_exports_a_head_paired_with_its_backbone(tmp_path, tiny_fer, monkeypatch) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "weights"
    backbone_sha = save_weights(create_model("resnet_ca_s"), weights / "emotion.pt")
    write_manifest_entry(weights, "emotion", {"file": "emotion.pt", "sha256": backbone_sha})
    monkeypatch.chdir(tmp_path)  # the run directory is runs/temporal under the working directory
    argv = ["--data", str(tiny_fer), "--weights-dir", str(weights), "--stills", "14", "--val-stills", "7"]
    argv += ["--val-clips", "4", "--window", "4", "--steps", "2", "--eval-every", "1", "--batch-size", "4"]
    argv += ["--export-dir", str(tmp_path / "export")]
    train_temporal.main(argv)
    entry = json.loads((tmp_path / "export" / "manifest.json").read_text())["models"]["temporal"]
    assert entry["command"] == "python -m models train-temporal " + " ".join(argv)
    assert entry["backbone_sha256"] == backbone_sha and entry["kind"] == "temporal_head"
    head, _ = load_model(tmp_path / "export", "temporal", kind="temporal_head")
    assert isinstance(head, TemporalEmotionHead)
    assert (head.config.window, head.config.channels) == (4, 256)  # channels = the backbone's num_features
