"""The live temporal stage: pairing with its backbone, per-track caches, restarts of media time."""

from __future__ import annotations

import pytest
import torch

from models.nets.temporal_head import TemporalEmotionHead, TemporalHeadConfig
from models.weights import WeightsError, save_weights, sha256_of, write_manifest_entry
from service.emotion.temporal import TrackTemporal


@pytest.fixture
def weights_dir(tmp_path):
    torch.manual_seed(0)
    head = TemporalEmotionHead(TemporalHeadConfig(window=4, key_channels=16, hidden=32))
    save_weights(head, tmp_path / "temporal.pt")
    entry = {"file": "temporal.pt", "sha256": sha256_of(tmp_path / "temporal.pt"), "backbone_sha256": "b" * 64}
    write_manifest_entry(tmp_path, "temporal", entry)
    return tmp_path


def test_a_head_trained_on_another_backbone_is_refused(weights_dir) -> None:
    with pytest.raises(WeightsError, match="retrain it"):
        TrackTemporal(weights_dir, "temporal", "a" * 64, torch.device("cpu"))


def test_tracks_keep_their_own_windows_and_restart_when_time_goes_back(weights_dir) -> None:
    temporal = TrackTemporal(weights_dir, "temporal", "b" * 64, torch.device("cpu"))
    cache = temporal.new_cache()
    maps = torch.randn(6, 256, 3, 3)
    for step in range(6):
        probs, va, confidence = temporal.update([(cache, 1, step * 0.1, maps[step]), (cache, 2, step * 0.1, maps[0])])
        assert probs.shape == (2, 7) and va.shape == (2, 2) and confidence.shape == (2,)
    assert cache.size(1) == 4 and cache.size(2) == 4  # the window, no more
    # A still face: track 2's window is one map repeated, exactly what a new track's padding shows.
    fresh = temporal.new_cache()
    alone, _, _ = temporal.update([(fresh, 9, 0.0, maps[0])])
    assert torch.allclose(torch.from_numpy(probs[1]), torch.from_numpy(alone[0]), atol=1e-5)
    temporal.update([(cache, 1, 0.05, maps[1])])  # a looped file: media time restarts
    assert cache.size(1) == 1


def test_no_faces_no_work(weights_dir) -> None:
    temporal = TrackTemporal(weights_dir, "temporal", "b" * 64, torch.device("cpu"))
    probs, va, confidence = temporal.update([])
    assert probs.shape == (0, 7) and va.shape == (0, 2) and confidence.shape == (0,)
