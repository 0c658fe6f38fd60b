"""Conversions between wire messages and the pure analytics' inputs.

The API answers window and heatmap queries by replaying a stream's history through the same analytics
classes the worker runs live, so both give the same numbers for the same media time.
"""

from __future__ import annotations

from collections.abc import Iterable

from service.analytics import AlertRule, FaceObservation, FrameObservation
from service.schemas import AlertRuleSpec


def rule_from_spec(spec: AlertRuleSpec) -> AlertRule:
    """Raises ValueError (with the analytics' reason) for a metric or window the engine does not accept."""
    return AlertRule(**spec.model_dump())


def face_observation(face: dict) -> FaceObservation:
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
    )


def observations_from_history(messages: Iterable[dict]) -> list[FrameObservation]:
    """Face events followed by their ``frame`` record -> one FrameObservation per analysed frame, in order."""
    pending: list[FaceObservation] = []
    frames: list[FrameObservation] = []
    for message in messages:
        kind = message.get("type")
        if kind == "face":
            pending.append(face_observation(message))
        elif kind == "frame":
            # the frame's own faces are the last ``faces`` pending ones (a capped history may cut a frame short)
            faces = tuple(pending[len(pending) - message["faces"] :]) if message["faces"] else ()
            frames.append(FrameObservation(pts=message["pts"], faces=faces, cut=message["cut"]))
            pending = []
    return frames
