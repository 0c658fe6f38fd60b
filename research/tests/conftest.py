"""Shared fixtures for the research tests."""

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def tiny_fer(tmp_path) -> Path:
    """A 42-row npz shaped like the shared FER2013 file: 28 Training and 14 PublicTest random faces."""
    path = tmp_path / "fer.npz"
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(7, dtype=np.uint8), 6)
    usage = np.array(["Training"] * 28 + ["PublicTest"] * 14)
    np.savez(path, images=rng.integers(0, 255, (42, 48, 48), dtype=np.uint8), labels=labels, usage=usage)
    return path
