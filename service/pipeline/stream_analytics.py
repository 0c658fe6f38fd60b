"""Per-stream analytics of analysed frames: the sliding window, alert ticks and stats ticks, as messages.

The face stages fill a frame's records; this turns them into the stream's wire messages (faces, then the
frame record, then any alerts and, at least once per media second, window statistics), each encoded once.
The statistics of the whole stream come back as a return value with the messages, for the registry's
"latest stats", instead of being left in a field for someone to read.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from service import wire
from service.analytics import AlertEngine, AlertRule, CharacterTracks, SlidingWindow, plain
from service.pipeline.records import FrameRecord


@dataclass(frozen=True)
class AnalyticsOutput:
    messages: list[wire.Encoded]
    latest_stats: str | None = None  # encoded whole-stream stats when this step ticked, else None
    # (track id, character id) of each face message, in order: who is on screen, without decoding them
    on_screen: list[tuple[int, str | None]] = field(default_factory=list)


@dataclass
class StreamCounters:
    frames_analysed: int = 0
    faces: int = 0
    alerts: int = 0
    last_pts: float | None = None


@dataclass
class CharacterSeen:
    """One character's presence in one stream: what ``GET /streams/{id}/characters`` lists."""

    character_id: str
    name: str
    first_seen: float
    last_seen: float
    face_frames: int = 0
    tracks: set[int] = field(default_factory=set)

    def summary(self, step_s: float) -> dict:
        """``step_s``: media seconds per analysed frame, to turn face-frames into screen time."""
        return {
            "character_id": self.character_id,
            "name": self.name,
            "first_seen": round(self.first_seen, 3),
            "last_seen": round(self.last_seen, 3),
            "screen_time_s": round(self.face_frames * step_s, 2),
            "face_frames": self.face_frames,
            "tracks": sorted(self.tracks),
        }


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
    characters: dict[str, CharacterSeen] = field(default_factory=dict)
    _track_faces: dict[int, tuple[float, int]] = field(default_factory=dict)  # first pts, face-frames per track
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
        characters = self._characters(record, pts)
        self.window.add(wire.frame_observation(frame, faces))
        self.counters.frames_analysed += 1
        self.counters.faces += len(faces)
        self.counters.last_pts = pts
        messages = [*characters, *faces, frame]
        for event in self.alerts.evaluate(self.window, pts, self._character_tracks()):
            self.counters.alerts += event.kind == "alert"
            messages.append(wire.alert_message(self.stream_id, event))
        encoded = [wire.encode(message) for message in messages]
        on_screen = [(face.track_id, face.character_id) for face in record.faces]
        interval = self.stats_interval_s
        if self._next_tick is None or pts >= self._next_tick or pts < self._next_tick - 2 * interval:
            self._next_tick = pts + interval
            return dataclasses.replace(self._with_stats(encoded), on_screen=on_screen)
        return AnalyticsOutput(encoded, on_screen=on_screen)

    def _characters(self, record: FrameRecord, pts: float) -> list[dict]:
        """Credits each face to its track and character; a ``character`` message per new assignment (sent
        before the frame's faces, so a subscriber knows the name when the first named face arrives)."""
        for face in record.faces:
            first, count = self._track_faces.get(face.track_id, (pts, 0))
            self._track_faces[face.track_id] = (first, count + 1)
        messages = []
        for assignment in record.assignments:
            character = assignment.character
            seen = self.characters.get(character.character_id)
            first, count = self._track_faces.get(assignment.track_id, (pts, 0))
            event = "assigned" if seen else "appeared"
            if seen is None:
                seen = self.characters[character.character_id] = CharacterSeen(
                    character.character_id, character.label, first, pts
                )
            seen.tracks.add(assignment.track_id)
            seen.face_frames += count - 1  # the frames of the track before it was identified (this one follows)
            seen.first_seen = min(seen.first_seen, first)
            messages.append(
                wire.character_message(
                    self.stream_id,
                    event,
                    character.character_id,
                    character.label,
                    track_id=assignment.track_id,
                    pts=pts,
                )
            )
        for face in record.faces:
            if face.character_id is not None and face.character_id in self.characters:
                seen = self.characters[face.character_id]
                seen.face_frames += 1
                seen.last_seen = pts
                seen.name = face.character or seen.name
        return messages

    def restore_characters(self, summaries: Iterable[Mapping]) -> None:
        """Screen time and first/last seen of the characters the stream had before it resumed (their tracks
        ended with the old worker: new ones join them as they are recognised)."""
        for summary in summaries:
            self.characters.setdefault(
                summary["character_id"],
                CharacterSeen(
                    summary["character_id"],
                    summary["name"],
                    summary["first_seen"],
                    summary["last_seen"],
                    summary["face_frames"],
                ),
            )

    def _character_tracks(self) -> list[CharacterTracks]:
        return [CharacterTracks(c.character_id, c.name, frozenset(c.tracks)) for c in self.characters.values()]

    def character_event(self, event: str, character_id: str, name: str | None, **fields) -> wire.Encoded:
        """A change made outside the frame path (named, removed), as a message of this stream."""
        if event == "named" and character_id in self.characters and name:
            self.characters[character_id].name = name
        if event == "removed":
            gone = self.characters.pop(character_id, None)
            target = self.characters.get(fields.get("merged_into") or "")
            if gone and target:
                target.tracks |= gone.tracks
                target.face_frames += gone.face_frames
                target.first_seen = min(target.first_seen, gone.first_seen)
                target.last_seen = max(target.last_seen, gone.last_seen)
        pts = self.counters.last_pts
        return wire.encode(wire.character_message(self.stream_id, event, character_id, name, pts=pts, **fields))

    def character_summaries(self, analysis_fps: float) -> list[dict]:
        """Each character seen, with its window statistics now (``GET /streams/{id}/characters``)."""
        out = []
        for seen in self.characters.values():
            summary = seen.summary(1.0 / analysis_fps)
            if self.counters.frames_analysed:
                character = (seen.character_id, frozenset(seen.tracks))
                summary["stats"] = plain(self.window.stats(window_s=self.window_s, character=character))
            out.append(summary)
        return out

    def final(self) -> AnalyticsOutput:
        """The last statistics of a stream that ends (none before its first analysed frame)."""
        return self._with_stats([]) if self.counters.frames_analysed else AnalyticsOutput([])

    def _with_stats(self, encoded: list[wire.Encoded]) -> AnalyticsOutput:
        """Adds window statistics of the whole stream, of each track and of each character in the window."""
        pts = self.counters.last_pts or 0.0
        span = self.window_s
        overall = wire.encode(wire.stats_message(self.stream_id, pts, self.window.stats(window_s=span)))
        per_track = [
            wire.encode(wire.stats_message(self.stream_id, pts, self.window.stats(track_id=tid, window_s=span)))
            for tid in self.window.tracks(window_s=span)
        ]
        present = set(self.window.tracks(window_s=span))
        per_character = [
            wire.encode(
                wire.stats_message(
                    self.stream_id,
                    pts,
                    self.window.stats(window_s=span, character=(seen.character_id, frozenset(seen.tracks))),
                )
            )
            for seen in self.characters.values()
            if seen.tracks & present
        ]
        return AnalyticsOutput([*encoded, overall, *per_track, *per_character], overall.body)
