"""Windowed history reads against a real Redis: only the last N media seconds, complete frames only."""

import pytest

from service.bus.history import History
from service.bus.keys import Keys
from service.bus.publisher import Publisher
from service.wire import encode, observations_from_history
from tests.unit.test_wire import face, frame

pytestmark = pytest.mark.redis


def test_recent_messages_cover_the_window_and_start_at_a_whole_frame(client, key_prefix):
    keys = Keys(key_prefix)
    publisher = Publisher(client, keys, events_maxlen=100_000)
    for index in range(600):  # 120 s at 5 fps, one face per frame, stats every 5 frames
        batch = [face(index, 1), frame(index, 1)] + ([{"type": "stats"}] if index % 5 == 0 else [])
        publisher.emit("s", [encode(message) for message in batch])
    history = History(client, keys)
    frames = observations_from_history(history.recent("s", window_s=10))
    assert len(frames) == 50 and frames[0].pts == pytest.approx(110.0) and frames[-1].pts == pytest.approx(119.8)
    assert all(len(f.faces) == 1 for f in frames)
    everything = observations_from_history(history.recent("s", window_s=None))
    assert len(everything) == 600


def test_read_page_filters_and_returns_a_cursor_only_when_full(client, key_prefix):
    keys = Keys(key_prefix)
    publisher = Publisher(client, keys, events_maxlen=100_000)
    publisher.emit("s", [encode(face(i, 1) if i % 3 else frame(i, 0)) for i in range(30)])
    history = History(client, keys)
    first, cursor = history.events("s", None, 10, keep=lambda m: m["type"] == "frame")
    assert [m["frame"] for m in first] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27] and cursor == first[-1]["id"]
    rest, cursor = history.events("s", cursor, 10, keep=lambda m: m["type"] == "frame")
    assert rest == [] and cursor is None
