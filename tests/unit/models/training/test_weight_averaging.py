"""Weight averaging: BatchNorm re-estimation of the average, and the training stage that averages."""

import json

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from models.training import train
from models.training.weight_averaging import refresh_batchnorm


def _conv_bn() -> nn.Sequential:
    net = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.BatchNorm2d(2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([1.0, -2.0]).view(2, 1, 1, 1))
    return net


def test_batchnorm_statistics_are_re_estimated_from_the_faces() -> None:
    net = _conv_bn()
    average = AveragedModel(net)
    average.update_parameters(net)
    average.module[1].running_mean.fill_(42.0)  # stale statistics that must not survive
    faces = torch.rand(64, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    refresh_batchnorm(average, faces, batch_size=16)
    bn = average.module[1]
    pixel_mean = faces.mean()
    assert torch.allclose(bn.running_mean, torch.stack([pixel_mean, -2 * pixel_mean]), atol=1e-5)
    # Equal batches: the running variance is the mean of the batches' unbiased variances.
    batch_vars = torch.stack([faces[i : i + 16].var() for i in range(0, 64, 16)]).mean()
    assert torch.allclose(bn.running_var, torch.stack([batch_vars, 4 * batch_vars]), atol=1e-5)
    assert bn.momentum == 0.1  # the layer's own momentum is given back
    with pytest.raises(ValueError, match="at least one face"):
        refresh_batchnorm(average, faces[:0])


def test_an_averaged_stage_scores_the_average_and_resumes(tmp_path, tiny_fer) -> None:
    common = ["--data", str(tiny_fer), "--epochs", "3", "--batch-size", "14", "--run-dir", str(tmp_path / "run")]
    common += ["--swa-epochs", "2", "--swa-lr", "0.005", "--swa-bn-rows", "20", "--export-dir", str(tmp_path)]
    train.main(common)
    entry = json.loads((tmp_path / "manifest.json").read_text())["models"]["emotion"]
    history = entry["history"]
    assert "average" not in history[0]
    assert [h["average"]["epoch"] for h in history[1:]] == ["average of epochs 2-2", "average of epochs 2-3"]
    assert all(0.0 <= h["average"]["accuracy"] <= 1.0 for h in history[1:])
    assert entry["weight_averaging"].startswith("SWA of the last 2 epochs at lr 0.005")
    assert "first 20 un-augmented Training faces" in entry["weight_averaging"]
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert int(state["average"]["n_averaged"]) == 2
    assert set(state["schedulers"]) == {"cycle", "swa"}
    train.main([*common, "--resume", "--no-export"])  # every epoch done: loads the average and stops


def test_bad_averaging_flags_are_refused(tiny_fer) -> None:
    with pytest.raises(SystemExit, match="--swa-epochs must lie in"):
        train.main(["--data", str(tiny_fer), "--epochs", "2", "--swa-epochs", "3", "--no-export"])
