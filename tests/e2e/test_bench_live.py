"""``bench-live`` on a small scale: real API and worker processes, every subscriber gets its snapshot and live
messages, and the figures come back (the thousand-subscriber run is a benchmark, not a test)."""

import pytest

from service.bench_live import run_bench_live
from service.config import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.redis]


def test_twenty_subscribers_all_receive_live_messages_and_the_rates_are_reported(redis_url, capsys):
    result = run_bench_live(Settings(redis_url=redis_url), subscribers=20, seconds=3, fps=5, as_json=False)
    assert result["subscribers_failed"] == 0 and result["subscribers_receiving"] == 20
    assert result["messages_delivered"] >= 20 * 3 * 5  # at least a face event per analysed frame, per subscriber
    assert result["delivery_ms"]["p99"] is not None and result["frames_per_s_without_subscribers"] > 0
    assert "20 subscribers (0 failed, 20 receiving)" in capsys.readouterr().out
