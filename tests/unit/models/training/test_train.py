"""Training the per-face network: a second stage from exported weights, and what its manifest entry says."""

import json

import pytest
import torch

from models.nets.emotion_net import EmotionNet, EmotionNetConfig
from models.registry import create_model
from models.training import train
from models.weights import save_weights, sha256_of


def _run(tmp_path, tiny_fer) -> list[str]:
    return ["--data", str(tiny_fer), "--epochs", "1", "--batch-size", "14", "--run-dir", str(tmp_path / "run")]


def test_a_run_exports_with_the_command_that_reproduces_it(tmp_path, tiny_fer) -> None:
    argv = [*_run(tmp_path, tiny_fer), "--export-dir", str(tmp_path / "export")]
    train.main(argv)
    entry = json.loads((tmp_path / "export" / "manifest.json").read_text())["models"]["emotion"]
    assert entry["command"] == "python -m models train " + " ".join(argv)
    assert EmotionNetConfig.from_dict(entry["architecture"]) == create_model("resnet_ca_s").config
    assert entry["sha256"] == sha256_of(tmp_path / "export" / "emotion.pt")
    assert "teachers" not in entry and "teachers" not in entry["targets"]


def test_init_continues_the_same_architecture_only(tmp_path, tiny_fer, capsys) -> None:
    torch.manual_seed(0)
    start = create_model("resnet_ca_s")
    save_weights(start, tmp_path / "start.pt")
    train.main([*_run(tmp_path, tiny_fer), "--init", str(tmp_path / "start.pt"), "--no-export", "--lr", "0"])
    assert f"initialised from {tmp_path / 'start.pt'}" in capsys.readouterr().out
    saved = torch.load(tmp_path / "run" / "best.pt", weights_only=True)["state_dict"]
    torch.testing.assert_close(saved["expression.weight"], start.expression.weight.detach())  # lr 0: unchanged

    other = tmp_path / "other.pt"
    save_weights(EmotionNet(EmotionNetConfig(name="shallow", blocks=(1, 1, 1, 1))), other)
    with pytest.raises(SystemExit, match="holds 'shallow', not 'resnet_ca_s'"):
        train.main([*_run(tmp_path, tiny_fer), "--init", str(other), "--no-export"])


def test_experiments_are_not_training_options(tiny_fer) -> None:
    for flag in (["--teacher", "a"], ["--model", "resnet_ca_w"]):
        with pytest.raises(SystemExit):
            train.main(["--data", str(tiny_fer), *flag, "--no-export"])
