"""IoU tracker: gives each face a track id that stays stable across a stream's analysed frames.

Greedy matching by IoU (highest first) is enough at analysis rates of a few frames per second with
faces that move little between samples; unmatched detections start tracks, tracks unseen for
``max_age_s`` media seconds end. Pure: no I/O, media time in, ids out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), boxes as x1, y1, x2, y2."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


@dataclass
class Track:
    track_id: int
    box: np.ndarray
    last_seen: float
    hits: int = 1


class IouTracker:
    """Assigns track ids to per-frame detections of one stream."""

    def __init__(self, iou_threshold: float = 0.3, max_age_s: float = 1.5) -> None:
        self.iou_threshold = iou_threshold
        self.max_age_s = max_age_s
        self.tracks: list[Track] = []
        self._next_id = 1

    def end_all(self) -> None:
        """Ends every track (a shot cut): the next boxes start new tracks, ids keep counting up."""
        self.tracks = []

    def split(self, track_id: int) -> int:
        """The live track ``track_id`` goes on under a new id (another person took its place); returns the id."""
        for track in self.tracks:
            if track.track_id == track_id:
                track.track_id, track.hits = self._next_id, 1
                self._next_id += 1
                return track.track_id
        raise KeyError(track_id)

    def update(self, boxes: np.ndarray, pts: float) -> list[int]:
        """Returns one track id per box (same order), after ageing out stale tracks."""
        self.tracks = [t for t in self.tracks if pts - t.last_seen <= self.max_age_s and pts >= t.last_seen]
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        ids = [0] * len(boxes)
        if len(boxes) and self.tracks:
            overlaps = iou_matrix(boxes, np.stack([t.box for t in self.tracks]))
            pairs = np.argwhere(overlaps >= self.iou_threshold)
            order = np.argsort(-overlaps[pairs[:, 0], pairs[:, 1]], kind="stable")
            used_boxes: set[int] = set()
            used_tracks: set[int] = set()
            for det, trk in pairs[order]:
                if det in used_boxes or trk in used_tracks:
                    continue
                used_boxes.add(det)
                used_tracks.add(trk)
                track = self.tracks[trk]
                track.box, track.last_seen, track.hits = boxes[det], pts, track.hits + 1
                ids[det] = track.track_id
        for det, box in enumerate(boxes):
            if ids[det] == 0:
                self.tracks.append(Track(self._next_id, box, pts))
                ids[det] = self._next_id
                self._next_id += 1
        return ids
