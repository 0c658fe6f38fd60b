"""Sliding-window statistics of one stream, the numbers producers watch and alert rules test.

Every analysed frame is folded into a fixed-size vector of counts and sums; the window keeps running totals
of those vectors (a prefix sum), so the statistics over any time range are one subtraction, whatever the
window length, the frame rate or the number of rules asking. Each track keeps its own running totals over
the frames it appears in, so per-track statistics cost the same.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .observations import CLASSES, POLARITIES, FaceObservation, FrameObservation
from .plain import plain

# Layout of the per-frame vector: one named slot per count or sum, indices derived from this one table.
_SLOTS: tuple[str, ...] = (
    "frames",
    "with_faces",
    "cuts",
    "faces",
    *(f"polarity:{name}" for name in POLARITIES),
    *(f"class:{name}" for name in CLASSES),
    "valence_sum",
    "valence_n",
    "arousal_sum",
    "arousal_n",
    "confidence_sum",
    "low_confidence",
    "occluded",
)
_SLOT = {name: index for index, name in enumerate(_SLOTS)}
_SIZE = len(_SLOTS)


@dataclass(frozen=True)
class WindowStats:
    """Statistics of one window; shares are over face-frames (one face in one frame), not over frames.

    ``track_churn`` counts identities seen beyond those on screen at once, per minute of covered window:
    a stable scene shows as many tracks as faces on screen (churn 0); a tracker that keeps losing faces
    (occlusion, blur) or a montage of passers-by adds identities, and shares over such short appearances
    are unreliable.
    """

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
    track_churn: float
    occluded_share: float = 0.0  # face-frames whose face the saliency decoder saw covered (hand, microphone…)
    track_id: int | None = None
    character_id: str | None = None  # stats of one character: the faces of all its tracks in the window

    def metric(self, name: str) -> float | None:
        """The value an alert rule tests, by the names in ``METRICS``; None when there is nothing to average."""
        if name not in _METRICS:
            raise ValueError(f"unknown metric {name!r}; expected one of {METRICS}")
        return _METRICS[name](self)

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


# Every metric an alert rule may test, and how it is read off a window: the one table of metric names.
# "neutral_share" names the polarity: the class "neutral" is only part of it (surprise is neutral too).
_METRICS: dict[str, Callable[[WindowStats], float | None]] = {
    **{f"{name}_share": (lambda stats, name=name: stats.shares[name]) for name in POLARITIES},
    **{
        f"{name}_share": (lambda stats, name=name: stats.class_shares[name])
        for name in CLASSES
        if name not in POLARITIES
    },
    "mean_valence": lambda stats: stats.mean_valence,
    "mean_arousal": lambda stats: stats.mean_arousal,
    "mean_confidence": lambda stats: stats.mean_confidence,
    "low_confidence_share": lambda stats: stats.low_confidence_share,
    "occluded_share": lambda stats: stats.occluded_share,
    "coverage": lambda stats: stats.coverage,
}
METRICS: tuple[str, ...] = tuple(_METRICS)


def _summarise(faces: Iterable[FaceObservation], cut: bool, low_confidence: float) -> np.ndarray:
    vector = np.zeros(_SIZE)
    vector[_SLOT["frames"]] = 1.0
    vector[_SLOT["cuts"]] = float(cut)
    for face in faces:
        vector[_SLOT["with_faces"]] = 1.0
        vector[_SLOT["faces"]] += 1.0
        vector[_SLOT[f"polarity:{face.polarity}"]] += 1.0
        vector[_SLOT[f"class:{face.label}"]] += 1.0
        if face.valence is not None:
            vector[_SLOT["valence_sum"]] += face.valence
            vector[_SLOT["valence_n"]] += 1.0
        if face.arousal is not None:
            vector[_SLOT["arousal_sum"]] += face.arousal
            vector[_SLOT["arousal_n"]] += 1.0
        vector[_SLOT["confidence_sum"]] += face.confidence
        vector[_SLOT["low_confidence"]] += float(face.confidence < low_confidence)
        vector[_SLOT["occluded"]] += float(face.occluded)
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
        self._memo: dict[tuple, WindowStats] = {}  # stats asked for since the last frame (alerts and ticks share)

    def ensure_retention(self, window_s: float) -> None:
        """Keep at least ``window_s`` seconds from now on (a rule with a longer window was added)."""
        if window_s <= 0:
            raise ValueError(f"window_s must be positive, got {window_s}")
        self._window_s = max(self._window_s, window_s)

    def add(self, obs: FrameObservation) -> None:
        latest = self.latest_pts
        if latest is not None and obs.pts < latest:
            self.reset()
        self._memo.clear()
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
        character: tuple[str, frozenset[int]] | None = None,
    ) -> WindowStats:
        """Statistics of ``(now - window_s, now]``, optionally only from ``since_pts`` on (e.g. the last cut).

        With ``track_id`` only that track's faces count; ``frames`` and ``cuts`` still count every frame of
        the window, and ``coverage`` is the share of those frames in which the track is visible. With
        ``character`` (its id and its track ids) the faces of all those tracks count: a character spans cuts.
        """
        after, until, span = self._bounds(now_pts, window_s)
        key = (until, span, track_id, since_pts, character)
        if key not in self._memo:
            self._memo[key] = self._compute(after, until, span, track_id, since_pts, character)
        return self._memo[key]

    def _compute(
        self,
        after: float,
        until: float,
        span: float,
        track_id: int | None,
        since_pts: float | None,
        character: tuple[str, frozenset[int]] | None,
    ) -> WindowStats:
        lo, hi = self._frames.span(after, until, since_pts)
        frames = self._frames.total(lo, hi)
        if track_id is None and character is None:
            faces = frames
            face_count = sum(self._present(series, after, until, since_pts) for series in self._tracks.values())
        else:
            chosen = {track_id} if track_id is not None else set(character[1]) if character else set()
            faces, face_count = np.zeros(_SIZE), 0
            for tid in chosen:
                series = self._tracks.get(tid)
                if series is not None:
                    total = series.total(*series.span(after, until, since_pts))
                    faces, face_count = faces + total, face_count + int(total[_SLOT["faces"]] > 0)
        start, end = (self._frames.pts[lo], self._frames.pts[hi - 1]) if hi > lo else (until, until)
        stats = _build_stats(frames, faces, face_count, span, start, end, track_id)
        return dataclasses.replace(stats, character_id=character[0]) if character else stats


def _build_stats(
    frames: np.ndarray,
    faces: np.ndarray,
    face_count: int,
    window_s: float,
    start: float,
    end: float,
    track_id: int | None,
) -> WindowStats:
    def count(slot: str, of: np.ndarray = faces) -> int:
        return int(round(of[_SLOT[slot]]))

    n_frames, with_faces, face_frames = count("frames", frames), count("with_faces"), count("faces")

    def share(slot: str) -> float:
        return float(faces[_SLOT[slot]]) / face_frames if face_frames else 0.0

    def mean(total: str, n: str) -> float | None:
        return float(faces[_SLOT[total]]) / float(faces[_SLOT[n]]) if faces[_SLOT[n]] > 0 else None

    class_shares = {name: share(f"class:{name}") for name in CLASSES}
    # identities beyond the mean number of faces on screen (face_frames / frames_with_faces), per minute
    extra = max(0.0, face_count - face_frames / with_faces) if with_faces else 0.0
    return WindowStats(
        window_s=window_s,
        window_start=float(start),
        window_end=float(end),
        frames=n_frames,
        frames_with_faces=with_faces,
        coverage=with_faces / n_frames if n_frames else 0.0,
        face_frames=face_frames,
        face_count=face_count,
        shares={name: share(f"polarity:{name}") for name in POLARITIES},
        class_shares=class_shares,
        dominant=max(class_shares, key=class_shares.__getitem__) if face_frames else None,
        mean_valence=mean("valence_sum", "valence_n"),
        mean_arousal=mean("arousal_sum", "arousal_n"),
        mean_confidence=share("confidence_sum") if face_frames else None,
        low_confidence_share=share("low_confidence"),
        cuts=count("cuts", frames),
        track_churn=extra * 60.0 / max(float(end) - float(start), 1.0),
        occluded_share=share("occluded"),
        track_id=track_id,
    )
