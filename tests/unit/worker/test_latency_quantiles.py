from collections import deque

from service.worker.runner import latency_quantiles


def test_quantiles_by_hand():
    samples = deque(float(v) for v in range(1, 101))  # 1..100 ms
    assert latency_quantiles(samples) == {"p50": 51.0, "p95": 96.0, "max": 100.0}


def test_no_samples_no_quantiles():
    assert latency_quantiles(deque()) == {}
