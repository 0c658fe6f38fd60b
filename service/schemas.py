"""REST bodies and wire messages, each defined once and shared by worker and API.

Every live message has a ``type`` (face, frame, stats, status, alert) and the ``stream_id``; those read back
from history or sent on a WebSocket also carry ``id``, the Redis Stream entry id to resume from. The
``stats`` and ``alert`` messages are not written out here: their fields are those of the analytics records
(``WindowStats``, ``AlertEvent``), so live messages and replays of history cannot drift apart, and an alert
rule in a request body is the analytics' own ``AlertRule`` (validated by its annotations and checks).
"""

from __future__ import annotations

import dataclasses
import re
from enum import StrEnum
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from service.analytics import AlertEvent, AlertRule, WindowStats


class StreamStatus(StrEnum):
    QUEUED = "queued"  # every analysis slot is busy (or no worker runs); ``reason`` says which, and its place
    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"
    STOPPED = "stopped"


TERMINAL_STATUSES = frozenset({StreamStatus.ENDED, StreamStatus.FAILED, StreamStatus.STOPPED})
MAX_ALERT_RULES = 20
CHARACTER_ID = r"^ch_[0-9a-f]{12}$"  # ids are random (service.identity.characters.new_character_id)
STREAM_ID = re.compile(r"^[0-9a-f]{12}$")  # ids are random (service.bus.registry.StreamRegistry.create)
_HISTORY_ID = re.compile(r"^(\d{1,20})(?:-(\d{1,20}))?$")
_U64 = 2**64 - 1


def check_history_id(value: str) -> str:
    """A Redis Stream entry id (``ms`` or ``ms-seq``, each an unsigned 64-bit number); ValueError otherwise."""
    match = _HISTORY_ID.match(value)
    if match is None or any(int(part) > _U64 for part in match.groups() if part is not None):
        raise ValueError("a history id is ms-seq, two unsigned 64-bit numbers, such as 1700000000000-0")
    return value


HistoryId = Annotated[str, AfterValidator(check_history_id)]


class StreamCreate(BaseModel):
    """Body of ``POST /streams``."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        ...,
        min_length=1,
        max_length=2048,
        description="rtmp/rtsp/srt/http(s)/HLS URL, or a local file path when enabled",
    )
    name: str | None = Field(None, max_length=200, description="display name")
    analysis_fps: float | None = Field(
        None, gt=0, description="frames analysed per media second (default from settings)"
    )
    realtime: bool = Field(False, description="pace a file to real time, as if it were live")
    loop: bool = Field(False, description="replay a file forever (demos); media time keeps increasing")
    alert_rules: list[AlertRule] | None = Field(
        None,
        max_length=MAX_ALERT_RULES,
        description="default: negative_share > 0.5 over 60 s, for the stream and per character; [] for none",
    )


class StreamCounters(BaseModel):
    frames_decoded: int = 0
    frames_sampled: int = 0
    frames_analysed: int = 0
    frames_dropped: int = Field(0, description="sampled frames dropped because inference was behind")
    faces: int = 0
    reconnects: int = 0
    corrupt_packets: int = Field(0, description="packets the decoder could not use, skipped")
    alerts: int = Field(0, description="verified alerts raised")
    suppressed: int = Field(0, description="alert candidates suppressed by the secondary verification")


class StreamInfo(BaseModel):
    id: str
    url: str
    name: str | None = None
    analysis_fps: float
    realtime: bool = False
    loop: bool = False
    status: StreamStatus
    reason: str | None = Field(None, description="why the stream ended, failed or is reconnecting")
    worker: str | None = None
    created_at: float
    updated_at: float
    media_time: float | None = Field(None, description="media seconds of the last analysed frame")
    analysis_fps_now: float | None = Field(
        None, description="frames analysed per media second now: below analysis_fps while its worker is behind"
    )
    counters: StreamCounters = Field(default_factory=StreamCounters)
    alert_rules: list[AlertRule] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict)


class StreamList(BaseModel):
    streams: list[StreamInfo]


class FaceEvent(BaseModel):
    """One face in one analysed frame: the emotion timeline is the sequence of these per track."""

    type: Literal["face"] = "face"
    id: str | None = Field(None, description="history entry id (Redis Stream id)")
    stream_id: str
    pts: float = Field(..., description="media time of the frame, seconds")
    frame: int = Field(..., description="index of the analysed frame in this stream")
    track_id: int
    box: list[float] = Field(..., description="x1, y1, x2, y2 in source-frame pixels")
    landmarks: list[list[float]] = Field(..., description="5 points (eyes, nose, mouth corners) in source pixels")
    det_score: float
    probs: dict[str, float] = Field(..., description="class -> probability, sums to 1")
    label: str
    polarity: Literal["positive", "negative", "neutral"]
    confidence: float = Field(..., description="probability of the shown label")
    valence: float | None = None
    arousal: float | None = None
    frame_label: str | None = Field(None, description="the per-frame model's label, before the temporal head")
    occlusion: float | None = Field(
        None, ge=0, le=1, description="how much of the face is covered (saliency decoder): 0 visible, 1 hidden"
    )
    occluded: bool = Field(False, description="occlusion passed the calibrated threshold: the label is held")
    saliency: list[list[float]] | None = Field(
        None, description="12×12 saliency mask of the aligned face (0–1), on the frames the decoder scored it"
    )
    frame_size: list[int] = Field(..., description="source frame width, height")
    latency_ms: float | None = Field(None, description="from frame decode to publish, milliseconds")
    character_id: str | None = Field(None, description="the person this track is; null while unidentified")
    character: str | None = Field(None, description="the character's name, 'person N' while unnamed")


class FrameEvent(BaseModel):
    """One analysed frame, with or without faces: lets history reproduce coverage, cuts and windows exactly."""

    type: Literal["frame"] = "frame"
    id: str | None = None
    stream_id: str
    pts: float
    frame: int
    faces: int = Field(..., description="face events of this frame (published just before this record)")
    cut: bool = Field(..., description="a shot cut was detected at this frame")
    frame_size: list[int]


CharacterChange = Literal["appeared", "assigned", "named", "removed", "excluded"]


class CharacterEvent(BaseModel):
    """A character first appears in the stream, a track is assigned to one, or one is named, removed (deleted or
    merged into another) or excluded from a track by a user."""

    type: Literal["character"] = "character"
    id: str | None = None
    stream_id: str
    event: CharacterChange
    character_id: str
    character: str | None = Field(None, description="the name, or 'person N' while unnamed")
    track_id: int | None = None
    pts: float | None = None
    merged_into: str | None = Field(None, description="for 'removed' by a merge: the character that remains")


class StatusEvent(BaseModel):
    type: Literal["status"] = "status"
    id: str | None = None
    stream_id: str
    status: StreamStatus
    reason: str | None = None
    pts: float | None = None


def _message_model(name: str, kind: str, record: type, doc: str, **extra: Any) -> type[BaseModel]:
    """A wire message model with the envelope (type, id, stream_id, ``extra``) and the fields of ``record``."""
    hints = get_type_hints(record, include_extras=True)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (hints[f.name], ...)
    envelope: dict[str, Any] = {
        "type": (Literal[kind], kind),  # type: ignore[valid-type]
        "id": (str | None, Field(None, description="history entry id (Redis Stream id)")),
        "stream_id": (str, ...),
    }
    return create_model(name, __doc__=doc, **envelope, **extra, **fields)


StatsEvent = _message_model(
    "StatsEvent",
    "stats",
    WindowStats,
    "A window-statistics tick: at least once per media second while a stream runs (fields: ``WindowStats``).",
    pts=(float, Field(..., description="media time of the tick")),
)
AlertMessage = _message_model(
    "AlertMessage",
    "alert",
    AlertEvent,
    "A threshold alert (``kind`` alert, verified) or a candidate suppressed by the secondary verification "
    "(fields: ``AlertEvent``).",
)


class StreamCharacter(BaseModel):
    """A character seen in a stream (``GET /streams/{id}/characters``, and the WebSocket snapshot)."""

    character_id: str
    name: str = Field(..., description="the name, or 'person N' while unnamed")
    first_seen: float = Field(..., description="media seconds")
    last_seen: float
    screen_time_s: float = Field(..., description="face-frames times the analysis step")
    face_frames: int
    tracks: list[int]
    stats: dict | None = Field(None, description="the character's window statistics at the last progress update")
    links: dict[str, str] = Field(default_factory=dict)


class SnapshotEvent(BaseModel):
    """The first message of a WebSocket opened without ``since``: where the stream stands, bounded in size
    (never the whole history). Live messages follow; ``id`` is where to resume from after a disconnect."""

    type: Literal["snapshot"] = "snapshot"
    id: str | None = Field(None, description="history id of the last message before the snapshot (null: none yet)")
    stream_id: str
    status: StreamStatus
    reason: str | None = None
    media_time: float | None = None
    stats: StatsEvent | None = Field(None, description="the latest whole-stream statistics tick")
    alerts: list[AlertMessage] = Field(default_factory=list, description="the latest alerts and suppressions")
    characters: list[StreamCharacter] = Field(default_factory=list)


Message = Annotated[
    FaceEvent | FrameEvent | StatsEvent | StatusEvent | AlertMessage | CharacterEvent, Field(discriminator="type")
]


class EventPage(BaseModel):
    """A page of history; pass ``next`` as ``since`` to get the following page."""

    events: list[Message]
    next: str | None = Field(None, description="cursor for the next page; null when the history is exhausted")


class AlertPage(BaseModel):
    alerts: list[AlertMessage]
    next: str | None = None
    suppressed_counts: dict[str, int] = Field(default_factory=dict, description="suppressed candidates by reason")


class ErrorBody(BaseModel):
    detail: str
