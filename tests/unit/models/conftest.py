"""Shared fixtures for the model tests."""

from pathlib import Path

import numpy as np
import pytest
import torch

from models.registry import create_model


@pytest.fixture
def tiny_fer(tmp_path) -> Path:
    """A 42-row npz shaped like the shared FER2013 file: 28 Training and 14 PublicTest random faces."""
    path = tmp_path / "fer.npz"
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(7, dtype=np.uint8), 6)
    usage = np.array(["Training"] * 28 + ["PublicTest"] * 14)
    np.savez(path, images=rng.integers(0, 255, (42, 48, 48), dtype=np.uint8), labels=labels, usage=usage)
    return path


@pytest.fixture(scope="module")
def nets() -> list[torch.nn.Module]:
    """Two untrained per-face networks with different weights (ensemble and distillation tests)."""
    torch.manual_seed(0)
    return [create_model("resnet_ca_s").eval() for _ in range(2)]


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    return torch.rand(5, 1, 48, 48, generator=torch.Generator().manual_seed(1))
