"""Alert pictures show the alert's subject: the latest frame they were in, even after the camera cut away."""

from __future__ import annotations

import json

import numpy as np

from service import wire
from service.bus.keyframes import SUBJECT
from service.ingest.frames import VideoFrame
from service.pipeline.stream_analytics import AnalyticsOutput
from service.worker.evidence import EvidenceFrames


def frame(index: int, shade: int) -> VideoFrame:
    return VideoFrame(np.full((90, 160, 3), shade, np.uint8), index / 5, index, (320, 180), 0.0)


def face(track_id: int, character_id: str | None) -> wire.Encoded:
    return wire.encode({"type": "face", "track_id": track_id, "character_id": character_id, "box": [40, 40, 200, 160]})


def alert(character_id: str | None) -> wire.Encoded:
    return wire.encode({"type": "alert", "track_id": None, "character_id": character_id})


def output(*messages: wire.Encoded) -> AnalyticsOutput:
    """What the analytics hand the worker: the messages, and who is on screen (from the face messages)."""
    faces = [json.loads(m.body) for m in messages if m.type == "face"]
    return AnalyticsOutput(list(messages), on_screen=[(f["track_id"], f["character_id"]) for f in faces])


def test_a_persons_alert_shows_their_last_frame_and_a_stream_alert_the_current_one():
    evidence = EvidenceFrames()
    assert evidence.pictures(frame(0, 10), output(face(1, "ch_guest"), wire.encode({"type": "frame"}))) == []
    # a cut to the host; the guest's alert fires now: its picture is the guest's frame, the guest boxed
    messages = output(face(2, "ch_host"), wire.encode({"type": "frame"}), alert("ch_guest"), alert(None))
    (index, guest), (stream_index, now) = evidence.pictures(frame(1, 200), messages)
    assert (index, stream_index) == (2, 3)
    assert guest[50, 50].tolist() == [10, 10, 10] and tuple(guest[20, 20]) == SUBJECT  # box at 40/2 = 20 px
    assert now[50, 50].tolist() == [200, 200, 200] and tuple(now[20, 20]) == SUBJECT
