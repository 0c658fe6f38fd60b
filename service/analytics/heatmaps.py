"""Heatmaps for producers: where on screen each polarity sits, how the emotion mix moves over time, and where
on the face the model's saliency lies."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from .observations import CLASSES, POLARITIES, FrameObservation


def _overlap(lo: np.ndarray, hi: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of each cell (between consecutive ``edges``) that each interval [lo, hi] covers, as (n, cells)."""
    lo, hi = np.clip(np.minimum(lo, hi), 0.0, 1.0), np.clip(np.maximum(lo, hi), 0.0, 1.0)
    covered = np.minimum(hi[:, None], edges[None, 1:]) - np.maximum(lo[:, None], edges[None, :-1])
    return np.clip(covered, 0.0, None) / np.diff(edges)[None, :]


class SpatialHeatmap:
    """Per polarity, how often each grid cell was covered by a face of that polarity.

    Each face adds, to every cell, the fraction of the cell its box covers (a cell inside the box gets 1, a
    cell the box edge halves gets 0.5). Values are divided by the number of analysed frames, so a cell reads
    as "share of frames in which this spot showed a negative face" (above 1 only where same-polarity faces
    overlap). Area weighting, not a Gaussian, keeps the numbers exact and lets close-ups show as large areas.

    Whole-stream totals are kept as running grids; recent faces (``max_window_s``) are kept as boxes, so a
    "last N seconds" grid is recomputed on request instead of storing a grid per frame.
    """

    def __init__(
        self, grid_w: int = 32, grid_h: int = 18, max_window_s: float = 600.0, track_id: int | None = None
    ) -> None:
        if grid_w < 1 or grid_h < 1:
            raise ValueError(f"grid must be at least 1x1, got {grid_w}x{grid_h}")
        if max_window_s <= 0:
            raise ValueError(f"max_window_s must be positive, got {max_window_s}")
        self.grid_w, self.grid_h = grid_w, grid_h
        self._x_edges, self._y_edges = np.linspace(0.0, 1.0, grid_w + 1), np.linspace(0.0, 1.0, grid_h + 1)
        self.max_window_s = max_window_s
        self.track_id = track_id  # None: every face; else only this track (frames still count every frame)
        self.reset()

    def reset(self) -> None:
        self._totals = np.zeros((len(POLARITIES), self.grid_h, self.grid_w))
        self._frames_total = 0
        self._first_pts: float | None = None
        self._recent_frames: deque[float] = deque()
        self._recent_faces: deque[tuple[float, int, float, float, float, float]] = deque()  # pts, polarity, box

    def add(self, obs: FrameObservation) -> None:
        if self._recent_frames and obs.pts < self._recent_frames[-1]:
            self.reset()  # source restarted: a new timeline
        if self._first_pts is None:
            self._first_pts = obs.pts
        self._frames_total += 1
        self._recent_frames.append(obs.pts)
        faces = [face for face in obs.faces if self.track_id is None or face.track_id == self.track_id]
        for index, polarity in enumerate(POLARITIES):
            boxes = [face.box for face in faces if face.polarity == polarity]
            if boxes:
                self._totals[index] += self._footprint(np.array(boxes, dtype=float))
                self._recent_faces.extend((obs.pts, index, *box) for box in boxes)
        limit = obs.pts - self.max_window_s
        while self._recent_frames[0] <= limit:
            self._recent_frames.popleft()
        while self._recent_faces and self._recent_faces[0][0] <= limit:
            self._recent_faces.popleft()

    def _footprint(self, boxes: np.ndarray) -> np.ndarray:
        """Summed cell coverage of boxes (n, 4) as a (grid_h, grid_w) grid, without an (n, h, w) intermediate."""
        across = _overlap(boxes[:, 0], boxes[:, 2], self._x_edges)
        down = _overlap(boxes[:, 1], boxes[:, 3], self._y_edges)
        return down.T @ across

    def frames(self, since_pts: float | None = None) -> int:
        """Analysed frames counted by ``grid``: the whole stream, or those at or after ``since_pts``."""
        if since_pts is None:
            return self._frames_total
        return sum(1 for pts in self._recent_frames if pts >= since_pts)

    def grid(self, polarity: str, since_pts: float | None = None) -> np.ndarray:
        """(grid_h, grid_w) occupancy of ``polarity``; ``since_pts`` reaches back at most ``max_window_s``."""
        if polarity not in POLARITIES:
            raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
        index = POLARITIES.index(polarity)
        frames = self.frames(since_pts)
        if not frames:
            return np.zeros((self.grid_h, self.grid_w))
        if since_pts is None:
            return self._totals[index] / frames
        boxes = [face[2:] for face in self._recent_faces if face[0] >= since_pts and face[1] == index]
        if not boxes:
            return np.zeros((self.grid_h, self.grid_w))
        return self._footprint(np.array(boxes, dtype=float)) / frames

    def to_dict(self, since_pts: float | None = None) -> dict[str, Any]:
        if since_pts is None:
            start = self._first_pts
        else:
            start = next((pts for pts in self._recent_frames if pts >= since_pts), None)
        end = self._recent_frames[-1] if self._recent_frames and start is not None else None
        return {
            "grid_w": self.grid_w,
            "grid_h": self.grid_h,
            "polarities": {p: np.round(self.grid(p, since_pts), 4).tolist() for p in POLARITIES},
            "frames": self.frames(since_pts),
            "window_start": start,
            "window_end": end,
            "track_id": self.track_id,
        }


class _Bin:
    """Summed class probabilities and face-frame count of one time bin, for the stream and per track."""

    def __init__(self) -> None:
        self.sums = np.zeros(len(CLASSES))
        self.count = 0
        self.tracks: dict[int, tuple[np.ndarray, int]] = {}

    def add(self, track_id: int, probs: np.ndarray) -> None:
        self.sums += probs
        self.count += 1
        sums, count = self.tracks.get(track_id, (np.zeros(len(CLASSES)), 0))
        self.tracks[track_id] = (sums + probs, count + 1)


class TemporalHeatmap:
    """Emotion mix over time: per ``bin_s`` bin, the mean class probabilities of the face-frames in it.

    Mean probabilities rather than label counts: a face that is 45 % sad and 40 % neutral shows as both,
    so the map does not flicker with argmax flips. Only the last ``max_bins`` bins are kept (720 x 5 s = 1 h).
    """

    def __init__(self, bin_s: float = 5.0, max_bins: int = 720) -> None:
        if bin_s <= 0:
            raise ValueError(f"bin_s must be positive, got {bin_s}")
        if max_bins < 1:
            raise ValueError(f"max_bins must be at least 1, got {max_bins}")
        self.bin_s = bin_s
        self.max_bins = max_bins
        self.reset()

    def reset(self) -> None:
        self._bins: dict[int, _Bin] = {}  # bin index -> bin, in increasing index order
        self._first_index: int | None = None  # bin of the first frame, so leading empty bins are shown too
        self._last_pts: float | None = None

    def add(self, obs: FrameObservation) -> None:
        if self._last_pts is not None and obs.pts < self._last_pts:
            self.reset()  # source restarted: a new timeline
        self._last_pts = obs.pts
        index = math.floor(obs.pts / self.bin_s)
        if self._first_index is None:
            self._first_index = index
        time_bin = self._bins.setdefault(index, _Bin())
        for face in obs.faces:
            time_bin.add(face.track_id, np.array([face.probs.get(name, 0.0) for name in CLASSES], dtype=float))
        while next(iter(self._bins)) <= index - self.max_bins:
            del self._bins[next(iter(self._bins))]

    def to_dict(self, track_id: int | None = None) -> dict[str, Any]:
        """Every bin from the oldest kept to the newest, empty ones included so the time axis has no holes."""
        bins = []
        if self._first_index is not None:
            last = next(reversed(self._bins))
            for index in range(max(self._first_index, last - self.max_bins + 1), last + 1):
                time_bin = self._bins.get(index)
                if time_bin is None:
                    sums, count = np.zeros(len(CLASSES)), 0
                elif track_id is None:
                    sums, count = time_bin.sums, time_bin.count
                else:
                    sums, count = time_bin.tracks.get(track_id, (np.zeros(len(CLASSES)), 0))
                values = sums / count if count else sums
                bins.append(
                    {
                        "start": round(index * self.bin_s, 4),
                        "end": round((index + 1) * self.bin_s, 4),
                        "values": {name: round(float(v), 4) for name, v in zip(CLASSES, values, strict=True)},
                        "face_frames": count,
                    }
                )
        return {"bin_s": self.bin_s, "classes": list(CLASSES), "track_id": track_id, "bins": bins}


class SaliencyHeatmap:
    """The mean of the saliency decoder's masks (12×12, on the aligned face) over the faces it scored: where
    on the face the model finds the face it reads. A region that stays dark inside the face outline was
    covered (a hand, a microphone) or is one the model ignores. ``track_id`` keeps one track's faces only."""

    def __init__(self, track_id: int | None = None) -> None:
        self.track_id = track_id
        self._sum: np.ndarray | None = None
        self._faces = 0
        self._occluded = 0

    def add(self, obs: FrameObservation) -> None:
        for face in obs.faces:
            if face.saliency is None or (self.track_id is not None and face.track_id != self.track_id):
                continue
            mask = np.asarray(face.saliency, dtype=float)
            self._sum = mask if self._sum is None else self._sum + mask
            self._faces += 1
            self._occluded += face.occluded

    def to_dict(self) -> dict[str, Any]:
        mean = (self._sum / self._faces).round(3).tolist() if self._sum is not None else None
        share = round(self._occluded / self._faces, 4) if self._faces else 0.0
        return {"kind": "saliency", "track_id": self.track_id, "faces": self._faces, "occluded_share": share,
                "mean": mean}  # fmt: skip
