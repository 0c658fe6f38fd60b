"""Registry, leases and publisher against a real Redis server."""

import json
import time

import pytest

from service.bus.history import History
from service.bus.keys import Keys
from service.bus.publisher import Publisher
from service.bus.registry import StreamRegistry
from service.schemas import StreamStatus
from service.wire import encode, with_id

pytestmark = pytest.mark.redis


@pytest.fixture
def keys(key_prefix):
    return Keys(key_prefix)


def test_create_get_list_and_status(client, keys):
    registry = StreamRegistry(client, keys)
    info = registry.create("rtmp://example.com/live/a", "cam A", 5.0, realtime=False, loop=False)
    assert info.status == StreamStatus.STARTING and info.name == "cam A" and info.analysis_fps == 5.0
    registry.set_status(info.id, StreamStatus.FAILED, "could not open stream: refused", worker="w1")
    again = registry.get(info.id)
    assert (again.status, again.reason, again.worker) == (StreamStatus.FAILED, "could not open stream: refused", "w1")
    assert [s.id for s in registry.list()] == [info.id]
    registry.update_progress(info.id, {"frames_analysed": 7, "faces": 3, "bogus": 1}, media_time=1.25)
    counters = registry.get(info.id).counters
    assert (counters.frames_analysed, counters.faces) == (7, 3)
    assert registry.get(info.id).media_time == 1.25
    assert registry.get("nope") is None


def test_lease_claim_renew_release_and_expiry(client, keys):
    registry = StreamRegistry(client, keys)
    stream = registry.create("rtmp://example.com/x", None, 5.0, False, False)
    assert registry.claimable() == [stream.id]
    assert registry.claim(stream.id, "w1", ttl_s=0.3)
    assert not registry.claim(stream.id, "w2", ttl_s=5)
    assert registry.claimable() == []
    assert registry.renew(stream.id, "w1", 0.3)
    assert not registry.renew(stream.id, "w2", 5)  # only the holder renews
    time.sleep(0.5)  # w1 died: its lease expires
    assert registry.claimable() == [stream.id]
    assert registry.claim(stream.id, "w2", 5)
    registry.release(stream.id, "w1")  # a stale holder cannot release it
    assert client.get(keys.lease(stream.id)) == "w2"
    registry.release(stream.id, "w2")
    assert client.get(keys.lease(stream.id)) is None


def test_terminal_or_stopped_streams_are_not_claimable(client, keys):
    registry = StreamRegistry(client, keys)
    ended = registry.create("rtmp://example.com/e", None, 5.0, False, False)
    registry.set_status(ended.id, StreamStatus.ENDED, "end of stream")
    stopped = registry.create("rtmp://example.com/s", None, 5.0, False, False)
    registry.request_stop(stopped.id)
    assert registry.claimable() == []


def test_publisher_writes_history_before_live_with_ids(client, keys):
    publisher = Publisher(client, keys, events_maxlen=1000)
    pubsub = client.pubsub()
    pubsub.subscribe(keys.channel("s1"))
    pubsub.get_message(timeout=1)  # subscription confirmation
    messages = [encode(m) for m in ({"type": "face", "pts": 0.1}, {"type": "alert", "rule": "r"}, {"type": "stats"})]
    ids = publisher.emit("s1", messages)
    live = []
    while len(live) < 3:
        message = pubsub.get_message(timeout=2)
        assert message is not None
        if message["type"] == "message":
            live.append(message["data"])
    # live carries the encoded text with the id spliced in front: what a WebSocket client receives
    assert live == [with_id(i, m.body) for i, m in zip(ids, messages, strict=True)]
    assert [json.loads(text)["id"] for text in live] == ids
    history, _ = History(client, keys).events("s1", None, 10)
    assert [m["id"] for m in history] == ids and [m["type"] for m in history] == ["face", "alert", "stats"]
    alerts, _ = History(client, keys).alerts("s1", None, 10)
    assert [(a["rule"], a["id"]) for a in alerts] == [("r", ids[1])]  # same id in both histories


def test_history_is_capped(client, keys):
    publisher = Publisher(client, keys, events_maxlen=100)
    for i in range(30):
        publisher.emit("s2", [encode({"type": "face", "i": i})] * 20)
    assert 100 <= client.xlen(keys.events("s2")) < 600


def test_heartbeats(client, keys):
    registry = StreamRegistry(client, keys)
    registry.heartbeat("hostA-1", {"streams": []}, ttl_s=5)
    registry.heartbeat("hostB-2", {"streams": ["x"]}, ttl_s=5)
    assert set(registry.workers()) == {"hostA-1", "hostB-2"}
    assert list(registry.workers("hostB")) == ["hostB-2"]
