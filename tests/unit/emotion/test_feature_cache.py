"""Per-track feature cache: backbone once per face per frame, windows reuse the stored tensors."""

import pytest
import torch
from torch import nn

from service.emotion.feature_cache import TrackFeatureCache


class CountingEmbedder(nn.Module):
    """Stands in for the backbone: counts how many faces it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.faces = 0

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        self.faces += faces.shape[0]
        return faces.mean(dim=(2, 3))


def test_pushing_more_than_max_len_keeps_the_last_entries_in_order():
    cache = TrackFeatureCache(max_len=4)
    pushed = [torch.full((3,), float(i)) for i in range(7)]
    for i, feature in enumerate(pushed):
        cache.push("a", i * 0.04, feature)
    pts, stacked = cache.window("a")
    assert pts == pytest.approx([0.12, 0.16, 0.20, 0.24])
    assert stacked.shape == (4, 3)
    torch.testing.assert_close(stacked, torch.stack(pushed[3:]))
    assert all(stored is original for (_, stored), original in zip(cache.entries("a"), pushed[3:], strict=True))
    assert cache.window("a", last=2)[0] == pytest.approx([0.20, 0.24])


def test_overlapping_windows_never_recompute_the_backbone():
    torch.manual_seed(0)
    window, frames = 4, 10
    embedder = CountingEmbedder()
    cache = TrackFeatureCache(max_len=window)
    pushed: dict[int, list[torch.Tensor]] = {1: [], 2: []}
    steps_read = 0
    with torch.no_grad():
        for frame in range(frames):
            faces = torch.rand(2, 3, 8, 8)  # two tracked faces in this frame, embedded in one batch
            features = embedder(faces)
            for track_id, feature in zip((1, 2), features, strict=True):
                cache.push(track_id, frame / 25, feature)
                pushed[track_id].append(feature)
                pts, stacked = cache.window(track_id)  # overlaps the previous window by window-1 frames
                steps_read += len(pts)
                expected = pushed[track_id][-window:]
                assert all(a is b for (_, a), b in zip(cache.entries(track_id), expected, strict=True))
                torch.testing.assert_close(stacked, torch.stack(expected))
    assert embedder.faces == 2 * frames  # each face embedded exactly once
    assert steps_read == 2 * (1 + 2 + 3 + 4 * (frames - 3))  # while the windows read 3.4x as many face-steps


def test_drop_prune_and_pts_order():
    cache = TrackFeatureCache(max_len=3)
    for track_id in ("a", "b", "c"):
        cache.push(track_id, 1.0, torch.zeros(2))
    with pytest.raises(ValueError):
        cache.push("a", 1.0, torch.zeros(2))
    cache.drop("a")
    cache.drop("missing")
    assert "a" not in cache and len(cache) == 2
    assert cache.prune(["c", "z"]) == ["b"]
    assert cache.track_ids == ["c"] and cache.size("c") == 1 and cache.size("b") == 0
    with pytest.raises(KeyError):
        cache.window("b")
    with pytest.raises(ValueError):
        TrackFeatureCache(0)
