"""Per-stream analytics of analysed frames: the sliding window, alert ticks and stats ticks, as messages.

The face stages fill a frame's records; this turns them into the stream's wire messages (faces, then the
frame record, then any alerts and, at least once per media second, window statistics), each encoded once.
The statistics of the whole stream come back as a return value with the messages, for the registry's
"latest stats", instead of being left in a field for someone to read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from service import wire
from service.analytics import AlertEngine, AlertRule, SlidingWindow
from service.pipeline.records import FrameRecord


@dataclass(frozen=True)
class AnalyticsOutput:
    messages: list[wire.Encoded]
    latest_stats: str | None = None  # encoded whole-stream stats when this step ticked, else None


@dataclass
class StreamCounters:
    frames_analysed: int = 0
    faces: int = 0
    alerts: int = 0
    last_pts: float | None = None


@dataclass
class StreamAnalytics:
    """Window, alert engine and stats schedule of one stream."""

    stream_id: str
    classes: Sequence[str]
    polarity: Mapping[str, str]
    window: SlidingWindow
    alerts: AlertEngine
    window_s: float  # of the stats ticks (the window may keep more history for a rule with a longer one)
    stats_interval_s: float
    counters: StreamCounters = field(default_factory=StreamCounters)
    _next_tick: float | None = None

    @classmethod
    def create(
        cls,
        stream_id: str,
        rules: Iterable[AlertRule],
        classes: Sequence[str],
        polarity: Mapping[str, str],
        *,
        window_s: float,
        stats_interval_s: float,
    ) -> StreamAnalytics:
        return cls(
            stream_id, classes, polarity, SlidingWindow(window_s), AlertEngine(rules), window_s, stats_interval_s
        )

    def add(self, record: FrameRecord) -> AnalyticsOutput:
        """The messages of one analysed frame, in publishing order."""
        latency_ms = (time.monotonic() - record.frame.decoded_at) * 1000
        faces = [wire.face_message(record, face, self.classes, self.polarity, latency_ms) for face in record.faces]
        frame = wire.frame_message(record)
        pts = frame["pts"]
        self.window.add(wire.frame_observation(frame, faces))
        self.counters.frames_analysed += 1
        self.counters.faces += len(faces)
        self.counters.last_pts = pts
        messages = [*faces, frame]
        for event in self.alerts.evaluate(self.window, pts):
            self.counters.alerts += event.kind == "alert"
            messages.append(wire.alert_message(self.stream_id, event))
        encoded = [wire.encode(message) for message in messages]
        interval = self.stats_interval_s
        if self._next_tick is None or pts >= self._next_tick or pts < self._next_tick - 2 * interval:
            self._next_tick = pts + interval
            return self._with_stats(encoded)
        return AnalyticsOutput(encoded)

    def final(self) -> AnalyticsOutput:
        """The last statistics of a stream that ends (none before its first analysed frame)."""
        return self._with_stats([]) if self.counters.frames_analysed else AnalyticsOutput([])

    def _with_stats(self, encoded: list[wire.Encoded]) -> AnalyticsOutput:
        """Adds window statistics of the whole stream and of each track in the window."""
        pts = self.counters.last_pts or 0.0
        span = self.window_s
        overall = wire.encode(wire.stats_message(self.stream_id, pts, self.window.stats(window_s=span)))
        per_track = [
            wire.encode(wire.stats_message(self.stream_id, pts, self.window.stats(track_id=tid, window_s=span)))
            for tid in self.window.tracks(window_s=span)
        ]
        return AnalyticsOutput([*encoded, overall, *per_track], overall.body)
