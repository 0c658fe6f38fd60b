"""Sliding-window statistics of one stream, the numbers producers watch and alert rules test.

Every analysed frame is folded into a fixed-size vector of counts and sums; the window keeps running totals
of those vectors (a prefix sum), so the statistics over any time range are one subtraction, whatever the
window length, the frame rate or the number of rules asking. Each track keeps its own running totals over
the frames it appears in, so per-track statistics cost the same.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .observations import CLASSES, POLARITIES, FaceObservation, FrameObservation

# Layout of the per-frame vector.
_FRAMES, _WITH_FACES, _CUTS, _FACES = range(4)
_POLARITY = {name: 4 + i for i, name in enumerate(POLARITIES)}
_CLASS = {name: 4 + len(POLARITIES) + i for i, name in enumerate(CLASSES)}
_VAL_SUM, _VAL_N, _ARO_SUM, _ARO_N, _CONF_SUM, _LOW_CONF = range(4 + len(POLARITIES) + len(CLASSES), 20)
_SIZE = _LOW_CONF + 1

# "neutral_share" names the polarity: the class "neutral" is only part of it (surprise is neutral too).
POLARITY_METRICS = {f"{name}_share": name for name in POLARITIES}
CLASS_METRICS = {f"{name}_share": name for name in CLASSES if f"{name}_share" not in POLARITY_METRICS}
SCALAR_METRICS = ("mean_valence", "mean_arousal", "mean_confidence", "low_confidence_share", "coverage")
METRICS: tuple[str, ...] = (*POLARITY_METRICS, *CLASS_METRICS, *SCALAR_METRICS)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class WindowStats:
    """Statistics of one window; shares are over face-frames (one face in one frame), not over frames."""

    window_s: float
    window_start: float
    window_end: float
    frames: int
    frames_with_faces: int
    coverage: float
    face_frames: int
    face_count: int
    shares: Mapping[str, float]
    class_shares: Mapping[str, float]
    dominant: str | None
    mean_valence: float | None
    mean_arousal: float | None
    mean_confidence: float | None
    low_confidence_share: float
    cuts: int
    track_id: int | None = None

    @property
    def track_churn(self) -> float:
        """Identities seen beyond those on screen at once, per minute of covered window.

        A stable scene shows as many tracks as faces on screen (churn 0); a tracker that keeps losing faces
        (occlusion, blur) or a montage of passers-by adds identities, and shares over such short appearances
        are unreliable. ``face_frames / frames_with_faces`` is the mean number of faces on screen.
        """
        if not self.frames_with_faces:
            return 0.0
        extra = max(0.0, self.face_count - self.face_frames / self.frames_with_faces)
        return extra * 60.0 / max(self.window_end - self.window_start, 1.0)

    def metric(self, name: str) -> float | None:
        """The value an alert rule tests, by the names in ``METRICS``; None when there is nothing to average."""
        if name in POLARITY_METRICS:
            return self.shares[POLARITY_METRICS[name]]
        if name in CLASS_METRICS:
            return self.class_shares[CLASS_METRICS[name]]
        if name in SCALAR_METRICS:
            return getattr(self, name)
        raise ValueError(f"unknown metric {name!r}; expected one of {METRICS}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_s": _round(self.window_s),
            "window_start": _round(self.window_start),
            "window_end": _round(self.window_end),
            "frames": self.frames,
            "frames_with_faces": self.frames_with_faces,
            "coverage": _round(self.coverage),
            "face_frames": self.face_frames,
            "face_count": self.face_count,
            "shares": {k: _round(v) for k, v in self.shares.items()},
            "class_shares": {k: _round(v) for k, v in self.class_shares.items()},
            "dominant": self.dominant,
            "mean_valence": _round(self.mean_valence),
            "mean_arousal": _round(self.mean_arousal),
            "mean_confidence": _round(self.mean_confidence),
            "low_confidence_share": _round(self.low_confidence_share),
            "cuts": self.cuts,
            "track_churn": _round(self.track_churn),
            "track_id": self.track_id,
        }


def _summarise(faces: Iterable[FaceObservation], cut: bool, low_confidence: float) -> np.ndarray:
    vector = np.zeros(_SIZE)
    vector[_FRAMES] = 1.0
    vector[_CUTS] = float(cut)
    for face in faces:
        vector[_WITH_FACES] = 1.0
        vector[_FACES] += 1.0
        vector[_POLARITY[face.polarity]] += 1.0
        vector[_CLASS[face.label]] += 1.0
        if face.valence is not None:
            vector[_VAL_SUM] += face.valence
            vector[_VAL_N] += 1.0
        if face.arousal is not None:
            vector[_ARO_SUM] += face.arousal
            vector[_ARO_N] += 1.0
        vector[_CONF_SUM] += face.confidence
        vector[_LOW_CONF] += float(face.confidence < low_confidence)
    return vector


class _PrefixSeries:
    """Timestamps with running totals of their vectors: the sum over any time range is one subtraction."""

    def __init__(self) -> None:
        self.pts: deque[float] = deque()
        self._totals: deque[np.ndarray] = deque()
        self._evicted = np.zeros(_SIZE)  # running total up to the last evicted entry

    def __len__(self) -> int:
        return len(self.pts)

    def append(self, pts: float, vector: np.ndarray) -> None:
        self._totals.append((self._totals[-1] if self._totals else self._evicted) + vector)
        self.pts.append(pts)

    def popleft(self) -> None:
        self.pts.popleft()
        self._evicted = self._totals.popleft()

    def span(self, after: float, until: float, since: float | None) -> tuple[int, int]:
        """Index range of entries with ``after < pts <= until`` and ``pts >= since``."""
        lo = bisect_right(self.pts, after)
        if since is not None:
            lo = max(lo, bisect_left(self.pts, since))
        return lo, max(lo, bisect_right(self.pts, until))

    def total(self, lo: int, hi: int) -> np.ndarray:
        if hi <= lo:
            return np.zeros(_SIZE)
        return self._totals[hi - 1] - (self._totals[lo - 1] if lo else self._evicted)


class SlidingWindow:
    """The last ``window_s`` media seconds of one stream: the window covers ``(now - window_s, now]``.

    ``window_s`` is also how much history is kept; ``stats`` can be asked for any shorter window, so one
    instance serves every alert rule of a stream. Media time going backwards means the source restarted:
    the window starts afresh rather than mixing two timelines.
    """

    def __init__(self, window_s: float = 60.0, low_confidence: float = 0.4) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        if not 0.0 <= low_confidence <= 1.0:
            raise ValueError(f"low_confidence must be in [0, 1], got {low_confidence}")
        self._window_s = window_s
        self.low_confidence = low_confidence
        self.reset()

    @property
    def window_s(self) -> float:
        return self._window_s

    @property
    def latest_pts(self) -> float | None:
        return self._frames.pts[-1] if self._frames else None

    def reset(self) -> None:
        self._frames = _PrefixSeries()
        self._frame_tracks: deque[tuple[int, ...]] = deque()  # track ids of each frame, to evict their entries
        self._tracks: dict[int, _PrefixSeries] = {}
        self._cuts: deque[float] = deque()

    def ensure_retention(self, window_s: float) -> None:
        """Keep at least ``window_s`` seconds from now on (a rule with a longer window was added)."""
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self._window_s = max(self._window_s, window_s)

    def add(self, obs: FrameObservation) -> None:
        latest = self.latest_pts
        if latest is not None and obs.pts < latest:
            self.reset()
        self._frames.append(obs.pts, _summarise(obs.faces, obs.cut, self.low_confidence))
        by_track: dict[int, list[FaceObservation]] = {}
        for face in obs.faces:
            by_track.setdefault(face.track_id, []).append(face)
        for track_id, faces in by_track.items():
            series = self._tracks.setdefault(track_id, _PrefixSeries())
            series.append(obs.pts, _summarise(faces, False, self.low_confidence))
        self._frame_tracks.append(tuple(by_track))
        if obs.cut:
            self._cuts.append(obs.pts)
        self._evict(obs.pts - self._window_s)

    def _evict(self, limit: float) -> None:
        while self._frames and self._frames.pts[0] <= limit:
            self._frames.popleft()
            for track_id in self._frame_tracks.popleft():
                series = self._tracks[track_id]
                series.popleft()
                if not series:
                    del self._tracks[track_id]
        while self._cuts and self._cuts[0] <= limit:
            self._cuts.popleft()

    def _bounds(self, now_pts: float | None, window_s: float | None) -> tuple[float, float, float]:
        span = self._window_s if window_s is None else window_s
        if not 0 < span <= self._window_s:
            raise ValueError(f"window_s must be in (0, {self._window_s}] (the retained history), got {span}")
        now = now_pts if now_pts is not None else (self.latest_pts or 0.0)
        return now - span, now, span

    def tracks(self, now_pts: float | None = None, window_s: float | None = None) -> list[int]:
        """Track ids seen in the window, sorted."""
        after, until, _ = self._bounds(now_pts, window_s)
        return sorted(tid for tid, series in self._tracks.items() if self._present(series, after, until, None))

    @staticmethod
    def _present(series: _PrefixSeries, after: float, until: float, since: float | None) -> bool:
        lo, hi = series.span(after, until, since)
        return hi > lo

    def last_cut(self, now_pts: float | None = None, window_s: float | None = None) -> float | None:
        """Media time of the latest shot cut in the window, None when there is none."""
        after, until, _ = self._bounds(now_pts, window_s)
        inside = [pts for pts in self._cuts if after < pts <= until]
        return inside[-1] if inside else None

    def stats(
        self,
        now_pts: float | None = None,
        track_id: int | None = None,
        window_s: float | None = None,
        since_pts: float | None = None,
    ) -> WindowStats:
        """Statistics of ``(now - window_s, now]``, optionally only from ``since_pts`` on (e.g. the last cut).

        With ``track_id`` only that track's faces count; ``frames`` and ``cuts`` still count every frame of
        the window, and ``coverage`` is the share of those frames in which the track is visible.
        """
        after, until, span = self._bounds(now_pts, window_s)
        lo, hi = self._frames.span(after, until, since_pts)
        frames = self._frames.total(lo, hi)
        if track_id is None:
            faces = frames
            face_count = sum(self._present(series, after, until, since_pts) for series in self._tracks.values())
        else:
            series = self._tracks.get(track_id)
            faces = series.total(*series.span(after, until, since_pts)) if series else np.zeros(_SIZE)
            face_count = int(faces[_FACES] > 0)
        start, end = (self._frames.pts[lo], self._frames.pts[hi - 1]) if hi > lo else (until, until)
        return _build_stats(frames, faces, face_count, span, start, end, track_id)


def _build_stats(
    frames: np.ndarray,
    faces: np.ndarray,
    face_count: int,
    window_s: float,
    start: float,
    end: float,
    track_id: int | None,
) -> WindowStats:
    n_frames = int(round(frames[_FRAMES]))
    with_faces = int(round(faces[_WITH_FACES]))
    face_frames = int(round(faces[_FACES]))

    def share(index: int) -> float:
        return float(faces[index]) / face_frames if face_frames else 0.0

    def mean(total: int, count: int) -> float | None:
        return float(faces[total]) / float(faces[count]) if faces[count] > 0 else None

    class_shares = {name: share(index) for name, index in _CLASS.items()}
    return WindowStats(
        window_s=window_s,
        window_start=float(start),
        window_end=float(end),
        frames=n_frames,
        frames_with_faces=with_faces,
        coverage=with_faces / n_frames if n_frames else 0.0,
        face_frames=face_frames,
        face_count=face_count,
        shares={name: share(index) for name, index in _POLARITY.items()},
        class_shares=class_shares,
        dominant=max(class_shares, key=class_shares.__getitem__) if face_frames else None,
        mean_valence=mean(_VAL_SUM, _VAL_N),
        mean_arousal=mean(_ARO_SUM, _ARO_N),
        mean_confidence=float(faces[_CONF_SUM]) / face_frames if face_frames else None,
        low_confidence_share=share(_LOW_CONF),
        cuts=int(round(frames[_CUTS])),
        track_id=track_id,
    )
