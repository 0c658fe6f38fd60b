"""Messages on the wire: REST bodies, WebSocket and Redis payloads. Defined once, shared by worker and API.

Every live message has a ``type`` (face, stats, status, alert) and the ``stream_id``; those read back from
history or replayed on a WebSocket also carry ``id``, the Redis Stream entry id to resume from.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class StreamStatus(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"
    STOPPED = "stopped"


TERMINAL_STATUSES = frozenset({StreamStatus.ENDED, StreamStatus.FAILED, StreamStatus.STOPPED})


class AlertRuleSpec(BaseModel):
    """A threshold rule over a sliding window, checked on every analysed frame (seed 000's decision layer)."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(
        ...,
        description="negative_share, positive_share, neutral_share, <class>_share, mean_valence, "
        "mean_arousal, coverage, mean_confidence or low_confidence_share",
    )
    op: Literal[">", ">=", "<", "<="]
    threshold: float
    window_s: float = Field(60.0, gt=0, le=3600)
    min_face_frames: int = Field(10, ge=0)
    min_duration_s: float = Field(3.0, ge=0, description="the condition must hold this long before verification")
    cooldown_s: float = Field(60.0, ge=0, description="no second alert of this rule sooner than this")
    per_track: bool = Field(False, description="evaluate for each face track separately")
    name: str = Field("", max_length=100)


DEFAULT_ALERT_RULES = [AlertRuleSpec(metric="negative_share", op=">", threshold=0.5, window_s=60.0)]


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
    alert_rules: list[AlertRuleSpec] | None = Field(
        None, max_length=20, description="alert rules; default: negative_share > 0.5 over 60 s; [] for none"
    )


class StreamCounters(BaseModel):
    frames_decoded: int = 0
    frames_sampled: int = 0
    frames_analysed: int = 0
    frames_dropped: int = Field(0, description="sampled frames dropped because inference was behind")
    faces: int = 0
    reconnects: int = 0
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
    counters: StreamCounters = Field(default_factory=StreamCounters)
    alert_rules: list[AlertRuleSpec] = Field(default_factory=list)
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
    frame_size: list[int] = Field(..., description="source frame width, height")
    latency_ms: float | None = Field(None, description="from frame decode to publish, milliseconds")


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


class StatsEvent(BaseModel):
    """A window-statistics tick: at least once per media second while a stream runs."""

    type: Literal["stats"] = "stats"
    id: str | None = None
    stream_id: str
    pts: float
    window_s: float
    window_start: float
    window_end: float
    frames: int
    frames_with_faces: int
    coverage: float
    face_frames: int
    face_count: int
    shares: dict[str, float] = Field(
        ..., description="positive / negative / neutral over face-frames; sum to 1 when face_frames > 0"
    )
    class_shares: dict[str, float] = Field(default_factory=dict)
    dominant: str | None = None
    mean_valence: float | None = None
    mean_arousal: float | None = None
    mean_confidence: float | None = None
    low_confidence_share: float | None = None
    cuts: int = 0
    track_id: int | None = Field(None, description="null: the whole stream; else stats of one face track")


class StatusEvent(BaseModel):
    type: Literal["status"] = "status"
    id: str | None = None
    stream_id: str
    status: StreamStatus
    reason: str | None = None
    pts: float | None = None


class AlertMessage(BaseModel):
    """A threshold alert (``kind`` alert, verified) or a candidate suppressed by the secondary verification."""

    type: Literal["alert"] = "alert"
    id: str | None = None
    stream_id: str
    kind: Literal["alert", "suppressed"]
    rule: str
    metric: str
    op: str
    threshold: float
    value: float
    verified: bool
    reasons: list[str] = Field(default_factory=list, description="why a candidate was suppressed")
    pts: float
    window_start: float
    window_end: float
    evidence: dict = Field(default_factory=dict)
    track_id: int | None = None


Message = Annotated[FaceEvent | FrameEvent | StatsEvent | StatusEvent | AlertMessage, Field(discriminator="type")]


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
