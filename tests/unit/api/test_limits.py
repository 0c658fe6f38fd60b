"""The mutation rate limiter: a burst at once, then the refill rate, per client, in bounded memory."""

from service.api.limits import RateLimiter


def test_a_burst_then_the_refill_rate_per_client():
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [limiter.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", now=0.0) == 1.0  # one token a second
    assert limiter.take("b", now=0.0) == 0.0  # another client has its own bucket
    assert limiter.take("a", now=1.0) == 0.0
    assert limiter.take("a", now=1.5) == 0.5


def test_memory_stays_bounded():
    limiter = RateLimiter(per_minute=60, burst=1, max_clients=100)
    for client in range(1000):
        limiter.take(str(client), now=0.0)
    assert len(limiter._buckets) == 100
