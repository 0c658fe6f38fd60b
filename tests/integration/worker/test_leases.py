"""Leases against a real Redis: capacity, renewal, loss and hand-over between two workers."""

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
    first.heartbeat([stream_id], {"detect": {"total_ms": 1.0}}, {"p50": 3.0})
    assert registry.workers()["w1"]["streams"] == [stream_id]
    first.release(stream_id)
    assert not registry.is_leased(stream_id)
    assert LeaseKeeper(registry, "w2", ttl_s=5, capacity=1).claim_new(held=0) == [stream_id]
