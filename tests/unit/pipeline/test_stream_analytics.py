"""Per-stream analytics of hand-made frame records: message order, stats ticks, and live equal to replay."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from models.labels import FER_CLASSES
from service import wire
from service.analytics import AlertRule, SlidingWindow
from service.config import DEFAULT_POLARITY
from service.ingest.frames import VideoFrame
from service.pipeline.records import FaceRecord, FrameRecord
from service.pipeline.stream_analytics import StreamAnalytics
from service.vision.detection import Detection

SAD = FER_CLASSES.index("sad")


def record(index: int, fps: float = 5.0, label: int = SAD, faces: int = 1, cut: bool = False) -> FrameRecord:
    image = np.zeros((90, 160, 3), np.uint8)
    frame = VideoFrame(image, index / fps, index, (640, 360), time.monotonic())
    out = FrameRecord("s", frame, cut=cut)
    for track in range(1, faces + 1):
        probs = np.full(len(FER_CLASSES), 0.02)
        probs[label] = 1 - 0.02 * (len(FER_CLASSES) - 1)
        box = np.array([10.0 * track, 10.0, 10.0 * track + 30, 50.0])
        face = FaceRecord(Detection(box, 0.99, np.zeros((5, 2))), track_id=track)
        face.frame_probs, face.probs = probs, probs
        face.valence_arousal, face.label = np.array([-0.6, -0.2]), label
        out.faces.append(face)
    return out


def analytics(rules=(), interval: float = 1.0) -> StreamAnalytics:
    return StreamAnalytics.create("s", rules, FER_CLASSES, DEFAULT_POLARITY, window_s=60.0, stats_interval_s=interval)


def test_messages_come_faces_first_then_the_frame_then_alerts_then_stats():
    rule = AlertRule("negative_share", ">", 0.5, window_s=10, min_face_frames=2, min_duration_s=0.3, cooldown_s=60)
    stream = analytics([rule])
    types = []
    for i in range(6):
        types.append([m.type for m in stream.add(record(i, faces=2)).messages])
    assert types[0] == ["face", "face", "frame", "stats", "stats", "stats"]  # first frame ticks: stream + 2 tracks
    assert types[1] == ["face", "face", "frame"]
    assert "alert" in types[2] and types[2].index("alert") > types[2].index("frame")
    assert stream.counters.frames_analysed == 6 and stream.counters.faces == 12 and stream.counters.alerts == 1


def test_a_tick_returns_the_whole_stream_stats_it_published():
    stream = analytics(interval=1.0)
    ticks = []
    for i in range(11):
        output = stream.add(record(i))
        if output.latest_stats is not None:
            ticks.append(i)
            stats = [json.loads(m.body) for m in output.messages if m.type == "stats"]
            assert output.latest_stats == wire.encode(stats[0]).body and stats[0]["track_id"] is None
    assert ticks == [0, 5, 10]  # at least once per media second at 5 fps


def test_final_stats_only_after_a_frame():
    assert analytics().final().messages == []
    stream = analytics()
    stream.add(record(0))
    final = stream.final()
    assert [m.type for m in final.messages] == ["stats", "stats"] and final.latest_stats is not None


def test_live_window_equals_a_replay_of_the_published_history():
    stream = analytics()
    published = []
    for i in range(40):
        label = SAD if i % 3 else FER_CLASSES.index("happy")
        published += [wire.decode(str(i), m.body) for m in stream.add(record(i, label=label, faces=1 + i % 2)).messages]
    replay = SlidingWindow(60.0)
    for observation in wire.observations_from_history(published):
        replay.add(observation)
    assert replay.stats() == stream.window.stats()
    assert replay.stats(track_id=2) == stream.window.stats(track_id=2)


def test_face_messages_are_in_source_pixels_with_the_shown_label():
    face = next(m for m in analytics().add(record(0)).messages if m.type == "face")
    message = json.loads(face.body)
    assert message["box"] == [40.0, 40.0, 160.0, 200.0]  # 160 px analysed -> 640 px source: x4
    assert (message["label"], message["polarity"], message["frame_label"]) == ("sad", "negative", "sad")
    assert message["confidence"] == pytest.approx(0.88) and sum(message["probs"].values()) == pytest.approx(1.0)
