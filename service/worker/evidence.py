"""Alert pictures: the frame that shows an alert's subject, the subject boxed.

A per-character rule can fire while the camera is on someone else (the person's window spans cuts), so the
picture is the latest frame in which the subject was seen, not simply the current one. One stream's latest
frame per track and per character is remembered (references to frames already decoded; a bounded number).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from service import wire
from service.bus.keyframes import boxed
from service.ingest.frames import VideoFrame
from service.pipeline.stream_analytics import AnalyticsOutput

KEPT = 64  # subjects remembered per stream (tracks and characters), least recently seen dropped first


@dataclass(frozen=True, slots=True)
class _Seen:
    frame: VideoFrame
    faces: list[wire.Encoded]  # that frame's face messages, decoded only if an alert needs them


class EvidenceFrames:
    def __init__(self) -> None:
        self._seen: OrderedDict[tuple[str, int | str], _Seen] = OrderedDict()

    def pictures(self, frame: VideoFrame, output: AnalyticsOutput) -> list[tuple[int, np.ndarray]]:
        """Notes who is in ``frame``; returns (message index, picture) for each alert among its messages."""
        seen = _Seen(frame, [m for m in output.messages if m.type == "face"])
        for track_id, character_id in output.on_screen:
            self._note(("track", track_id), seen)
            if character_id is not None:
                self._note(("character", character_id), seen)
        out = []
        for index, message in enumerate(output.messages):
            if message.type == "alert":
                alert = json.loads(message.body)
                shown = self._subject_frame(alert) or seen
                faces = [json.loads(face.body) for face in shown.faces]
                subject, others = wire.evidence_boxes(faces, alert)
                out.append((index, boxed(shown.frame.image, subject, others, 1 / shown.frame.scale)))
        return out

    def _note(self, key: tuple[str, int | str], seen: _Seen) -> None:
        self._seen[key] = seen
        self._seen.move_to_end(key)
        if len(self._seen) > KEPT:
            self._seen.popitem(last=False)

    def _subject_frame(self, alert: dict[str, Any]) -> _Seen | None:
        if alert["character_id"] is not None:
            return self._seen.get(("character", alert["character_id"]))
        if alert["track_id"] is not None:
            return self._seen.get(("track", alert["track_id"]))
        return None
