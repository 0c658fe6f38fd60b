"""Per-track ring buffer of backbone features, the runtime state of the temporal stage.

Why: backbone features are computed once per face per frame and cached per track; the temporal head
(``models.nets.temporal_head``: spatio-temporal attention, GRU) runs over the cached features, so
overlapping windows never recompute the backbone. With a window of S frames advanced one frame at a time,
that is S times fewer backbone passes.

Pure Python + torch, no model inside: the caller embeds a face, ``push``es the tensor, and reads
``window`` when it needs the last S steps. Entries are kept as given (no copy, no detach) — push tensors
produced under ``torch.no_grad()`` / inference mode. ``pts`` must strictly increase per track; a repeated
or older pts raises ValueError rather than silently putting a frame twice (or out of order) in a window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable

import torch

Entry = tuple[float, torch.Tensor]


class TrackFeatureCache:
    """track id -> the last ``max_len`` (pts, feature) entries, oldest first."""

    def __init__(self, max_len: int) -> None:
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        self.max_len = max_len
        self._tracks: dict[Hashable, deque[Entry]] = {}

    def push(self, track_id: Hashable, pts: float, feature: torch.Tensor) -> None:
        """Append one frame's feature; the oldest entry falls out once ``max_len`` are held."""
        buffer = self._tracks.setdefault(track_id, deque(maxlen=self.max_len))
        if buffer and pts <= buffer[-1][0]:
            raise ValueError(f"track {track_id!r}: pts {pts} not after {buffer[-1][0]}")
        buffer.append((pts, feature))

    def entries(self, track_id: Hashable) -> tuple[Entry, ...]:
        """The stored (pts, feature) entries, oldest first, the very tensors pushed; KeyError if unknown."""
        return tuple(self._tracks[track_id])

    def window(self, track_id: Hashable, last: int | None = None) -> tuple[list[float], torch.Tensor]:
        """(pts list, features stacked to (S, ...)) of the newest ``last`` entries (all by default)."""
        entries = self.entries(track_id)
        if last is not None:
            entries = entries[-last:] if last > 0 else ()
        if not entries:
            raise ValueError(f"track {track_id!r}: empty window")
        return [pts for pts, _ in entries], torch.stack([feature for _, feature in entries])

    def drop(self, track_id: Hashable) -> None:
        """Forget a track (ended or lost); unknown ids are ignored."""
        self._tracks.pop(track_id, None)

    def prune(self, active_track_ids: Iterable[Hashable]) -> list[Hashable]:
        """Drop every track not in ``active_track_ids``; returns the dropped ids."""
        active = set(active_track_ids)
        dropped = [track_id for track_id in self._tracks if track_id not in active]
        for track_id in dropped:
            del self._tracks[track_id]
        return dropped

    def __len__(self) -> int:
        """Number of tracks held."""
        return len(self._tracks)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._tracks

    def size(self, track_id: Hashable) -> int:
        """Number of entries held for a track (0 if unknown)."""
        return len(self._tracks.get(track_id, ()))

    @property
    def track_ids(self) -> list[Hashable]:
        return list(self._tracks)
