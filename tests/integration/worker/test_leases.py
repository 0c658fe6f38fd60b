"""Leases against a real Redis: capacity, renewal, loss, hand-over and fair shares between workers."""

import pytest

from service.bus.keys import Keys
from service.bus.registry import StreamRegistry
from service.worker.leases import LeaseKeeper

pytestmark = pytest.mark.redis


def test_claims_stop_at_capacity_and_another_worker_takes_the_rest(client, key_prefix):
    registry = StreamRegistry(client, Keys(key_prefix))
    ids = [registry.create(f"rtmp://example.com/{i}", None, 5.0, False, False).id for i in range(3)]
    first = LeaseKeeper(registry, "w1", ttl_s=5, capacity=2)
    second = LeaseKeeper(registry, "w2", ttl_s=5, capacity=2)
    won = first.claim_new(held=0)
    assert len(won) == 2 and set(won) < set(ids)
    assert first.claim_new(held=2) == []
    assert second.claim_new(held=0) == sorted(set(ids) - set(won))
    assert first.renew(won[0]) and not second.renew(won[0])  # only the holder renews


def test_a_released_stream_can_be_claimed_again_and_heartbeats_list_the_streams(client, key_prefix):
    registry = StreamRegistry(client, Keys(key_prefix))
    stream_id = registry.create("rtmp://example.com/x", None, 5.0, False, False).id
    first = LeaseKeeper(registry, "w1", ttl_s=5, capacity=1)
    assert first.claim_new(held=0) == [stream_id]
    first.heartbeat([stream_id], {"stages": {"detect": {"total_ms": 1.0}}, "latency_ms": {"p50": 3.0}})
    assert registry.workers()["w1"]["streams"] == [stream_id]
    assert registry.workers()["w1"]["latency_ms"] == {"p50": 3.0}
    first.release(stream_id)
    assert not registry.is_leased(stream_id)
    assert LeaseKeeper(registry, "w2", ttl_s=5, capacity=1).claim_new(held=0) == [stream_id]


def test_workers_that_heartbeat_share_a_burst_of_new_streams_evenly(client, key_prefix):
    registry = StreamRegistry(client, Keys(key_prefix))
    ids = [registry.create(f"rtmp://example.com/{i}", None, 5.0, False, False).id for i in range(5)]
    keepers = [LeaseKeeper(registry, f"w{i}", ttl_s=5, capacity=8) for i in range(2)]
    held: dict[str, list[str]] = {keeper.worker_id: [] for keeper in keepers}
    for keeper in keepers:
        keeper.heartbeat([], {})
    for _ in range(3):  # polls, in turn, each with the other's last heartbeat
        for keeper in keepers:
            held[keeper.worker_id] += keeper.claim_new(held=len(held[keeper.worker_id]))
            keeper.heartbeat(held[keeper.worker_id], {})
    assert sorted(len(streams) for streams in held.values()) == [2, 3]
    assert sorted(held["w0"] + held["w1"]) == sorted(ids)
