import pytest

from service.worker.timing import LatencyHistogram, histogram_quantile


def test_latencies_fall_into_the_bucket_of_the_first_bound_at_or_above_them():
    histogram = LatencyHistogram(bounds_ms=(10, 100))
    for ms in (5.0, 10.0, 10.5, 100.0, 250.0):
        histogram.observe(ms)
    assert histogram.snapshot() == {"bounds_ms": [10, 100], "counts": [2, 2, 1], "sum_ms": 375.5}


def test_quantiles_interpolate_inside_their_bucket():
    bounds = (100, 200, 400)
    assert histogram_quantile(bounds, [0, 10, 0, 0], 0.5) == pytest.approx(150.0)
    assert histogram_quantile(bounds, [10, 0, 10, 0], 0.95) == pytest.approx(200 + 200 * 0.9)
    assert histogram_quantile(bounds, [10, 0, 0, 0], 0.5) == pytest.approx(50.0)


def test_the_open_top_bucket_reads_as_the_highest_bound_and_no_counts_as_none():
    assert histogram_quantile((100, 200), [1, 0, 9], 0.95) == 200.0
    assert histogram_quantile((100, 200), [0, 0, 0], 0.5) is None


def test_exact_samples_and_their_histogram_agree_to_within_a_bucket():
    samples = [float(v) for v in range(1, 1001)]  # 1..1000 ms
    histogram = LatencyHistogram()
    for ms in samples:
        histogram.observe(ms)
    assert histogram_quantile(histogram.bounds_ms, histogram.counts, 0.95) == pytest.approx(950.0, rel=0.02)
    assert histogram_quantile(histogram.bounds_ms, histogram.counts, 0.5) == pytest.approx(500.0, rel=0.02)
