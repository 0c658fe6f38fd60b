"""Records to wire messages and history back to analytics inputs: the one place both directions live.

The worker turns each analysed frame's records into messages (plain dicts, floats rounded once by
``service.analytics.plain``), encodes each message to JSON exactly once (``encode``) and publishes that text;
the API hands the same text to WebSocket clients with the history id spliced in front (``with_id``), and only
parses it where a REST answer needs fields. The analytics of the live worker read each face back from its own
message (``observation``), exactly as a replay of history does, so live and replayed numbers are identical.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from service.analytics import AlertEvent, FaceObservation, FrameObservation, WindowStats, plain
from service.pipeline.records import FaceRecord, FrameRecord
from service.schemas import CharacterChange, CharacterEvent, FaceEvent, FrameEvent, StatusEvent, StreamStatus

_ID_PREFIX = '{"id":"'


@dataclass(frozen=True, slots=True)
class Encoded:
    """One message, encoded: its ``type`` (for routing) and its JSON ``body`` (without ``id``)."""

    type: str
    body: str


def encode(message: Mapping[str, Any]) -> Encoded:
    return Encoded(message["type"], json.dumps(message, separators=(",", ":")))


def with_id(entry_id: str, body: str) -> str:
    """The delivered form of an encoded message: ``id`` first, then its fields, without re-encoding."""
    return f'{_ID_PREFIX}{entry_id}",{body[1:]}' if body != "{}" else f'{_ID_PREFIX}{entry_id}"}}'


def id_of(delivered: str) -> str:
    """The history id at the front of a ``with_id`` text, without parsing the rest."""
    return delivered[len(_ID_PREFIX) : delivered.index('"', len(_ID_PREFIX))]


def decode(entry_id: str, body: str) -> dict[str, Any]:
    """A history entry as a message dict with its ``id`` (for REST answers and replays)."""
    return {**json.loads(body), "id": entry_id}


def face_message(
    record: FrameRecord, face: FaceRecord, classes: Sequence[str], polarity: Mapping[str, str], latency_ms: float
) -> dict[str, Any]:
    """A ``face`` message: boxes and landmarks in source pixels, the shown label and the timeline's probabilities."""
    frame, detection = record.frame, face.detection
    assert face.probs is not None and face.valence_arousal is not None and face.label is not None
    assert face.frame_probs is not None
    label = classes[face.label]
    scale = frame.scale
    return _message(
        FaceEvent(
            stream_id=record.stream_id,
            pts=plain(frame.pts),
            frame=frame.index,
            track_id=face.track_id,
            box=[round(float(v) * scale, 1) for v in detection.box],
            landmarks=[[round(float(x) * scale, 1), round(float(y) * scale, 1)] for x, y in detection.landmarks],
            det_score=plain(detection.score),
            probs={name: plain(p) for name, p in zip(classes, face.probs, strict=True)},
            label=label,
            polarity=polarity[label],
            confidence=plain(face.probs[face.label]),
            valence=plain(face.valence_arousal[0]),
            arousal=plain(face.valence_arousal[1]),
            frame_label=classes[int(face.frame_probs.argmax())],
            occlusion=None if face.occlusion is None else round(float(face.occlusion), 3),
            occluded=face.occluded,
            saliency=None if face.saliency is None else np.round(face.saliency, 2).tolist(),
            frame_size=list(frame.source_size),
            latency_ms=round(latency_ms, 1),
            character_id=face.character_id,
            character=face.character,
        )
    )


def frame_message(record: FrameRecord) -> dict[str, Any]:
    """The ``frame`` record, published after the frame's faces so a replay knows where each frame ends."""
    frame = record.frame
    return _message(
        FrameEvent(
            stream_id=record.stream_id,
            pts=plain(frame.pts),
            frame=frame.index,
            faces=len(record.faces),
            cut=record.cut,
            frame_size=list(frame.source_size),
        )
    )


def character_message(
    stream_id: str,
    event: CharacterChange,
    character_id: str,
    name: str | None,
    *,
    track_id: int | None = None,
    pts: float | None = None,
    merged_into: str | None = None,
) -> dict[str, Any]:
    return _message(
        CharacterEvent(
            stream_id=stream_id,
            event=event,
            character_id=character_id,
            character=name,
            track_id=track_id,
            pts=plain(pts),
            merged_into=merged_into,
        )
    )


def _message(event: BaseModel) -> dict[str, Any]:
    """A validated message model as the plain dict that gets encoded (``id`` is added by the history)."""
    return event.model_dump(mode="json", exclude={"id"})


def stats_message(stream_id: str, pts: float, stats: WindowStats) -> dict[str, Any]:
    return {"type": "stats", "stream_id": stream_id, "pts": plain(pts), **plain(stats)}


def alert_message(stream_id: str, event: AlertEvent) -> dict[str, Any]:
    return {"type": "alert", "stream_id": stream_id, **plain(event)}


def evidence_boxes(
    faces: Sequence[Mapping[str, Any]], alert: Mapping[str, Any]
) -> tuple[list[list[float]], list[list[float]]]:
    """Boxes (source pixels) of one frame's face messages: the alert's subject's (its track or character; every
    face for a whole-stream rule), and the other faces'."""
    whole_stream = alert["track_id"] is None and alert["character_id"] is None
    subject: list[list[float]] = []
    others: list[list[float]] = []
    for face in faces:
        mine = whole_stream or face["track_id"] == alert["track_id"]
        mine = mine or (alert["character_id"] is not None and face["character_id"] == alert["character_id"])
        (subject if mine else others).append(face["box"])
    return subject, others


def status_message(
    stream_id: str, status: StreamStatus, reason: str | None = None, pts: float | None = None
) -> dict[str, Any]:
    return _message(StatusEvent(stream_id=stream_id, status=status, reason=reason, pts=plain(pts)))


def observation(face: Mapping[str, Any]) -> FaceObservation:
    """A ``face`` message as the analytics see it: box normalised by the frame size."""
    width, height = face["frame_size"]
    x1, y1, x2, y2 = face["box"]
    return FaceObservation(
        track_id=face["track_id"],
        label=face["label"],
        polarity=face["polarity"],
        probs=face["probs"],
        confidence=face["confidence"],
        valence=face.get("valence"),
        arousal=face.get("arousal"),
        box=(x1 / width, y1 / height, x2 / width, y2 / height),
        occluded=bool(face.get("occluded")),
        saliency=tuple(map(tuple, face["saliency"])) if face.get("saliency") else None,
    )


def frame_observation(frame: Mapping[str, Any], faces: Sequence[Mapping[str, Any]]) -> FrameObservation:
    """A ``frame`` message and its own face messages as one analytics observation."""
    return FrameObservation(pts=frame["pts"], faces=tuple(map(observation, faces)), cut=frame["cut"])


def observations_from_history(messages: Iterable[Mapping[str, Any]]) -> list[FrameObservation]:
    """Face messages followed by their ``frame`` record -> one FrameObservation per analysed frame, in order."""
    pending: list[Mapping[str, Any]] = []
    frames: list[FrameObservation] = []
    for message in messages:
        kind = message.get("type")
        if kind == "face":
            pending.append(message)
        elif kind == "frame":
            # the frame's own faces are the last ``faces`` pending ones (a capped history may cut a frame short)
            own = pending[len(pending) - message["faces"] :] if message["faces"] else []
            frames.append(frame_observation(message, own))
            pending = []
    return frames


def character_tracks(messages: Iterable[Mapping[str, Any]]) -> dict[str, set[int]]:
    """Each character's track ids, as face and ``character`` messages of a history tell them (merges followed)."""
    tracks: dict[str, set[int]] = {}
    for message in messages:
        kind, character_id = message.get("type"), message.get("character_id")
        if character_id is None or kind not in ("face", "character"):
            continue
        if kind == "character" and message["event"] == "removed":
            moved = tracks.pop(character_id, set())
            if message.get("merged_into"):
                tracks.setdefault(message["merged_into"], set()).update(moved)
        elif kind == "character" and message["event"] == "excluded":
            tracks.get(character_id, set()).discard(message["track_id"])
        elif message.get("track_id") is not None:
            tracks.setdefault(character_id, set()).add(message["track_id"])
    return tracks


def character_names(messages: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each character's latest name in a history (face events carry it, ``character`` messages change it)."""
    names: dict[str, str] = {}
    for message in messages:
        if message.get("type") in ("face", "character") and message.get("character_id") and message.get("character"):
            names[message["character_id"]] = message["character"]
    return names
