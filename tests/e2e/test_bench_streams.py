"""``bench-streams`` on CPU with N = 2 and two worker processes: the many-streams code path (720p25 clip made,
streams played live, shared out between real ``python -m service worker`` processes, latency from their
heartbeats' histograms, rates, stages) runs end to end; its numbers are benchmarks, not asserted."""

import pytest

from service.bench_streams import run_bench_streams
from service.config import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.redis]


def test_two_live_720p_streams_are_shared_by_two_workers_and_measured(redis_url, capsys):
    settings = Settings(redis_url=redis_url, device="cpu", identity=False)
    result = run_bench_streams(settings, start=2, max_streams=2, fps=2, workers=2, warmup_s=6, seconds=6)
    (row,) = result["rows"]
    assert row["streams"] == 2 and row["streams_per_worker"] == [1, 1] and row["analysed_fps_per_stream"] > 0
    assert row["latency_ms"]["p95"] >= row["latency_ms"]["p50"] > 0
    assert {"detect", "infer"} <= row["stages_ms_per_item"].keys() and "identity" not in row["stages_ms_per_item"]
    assert result["streams_held"] in (0, 2) and result["device"] == "cpu" and result["workers"] == 2
    assert "streams of 720p25 held" in capsys.readouterr().out
