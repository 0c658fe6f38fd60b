"""``bench`` runs the naive loop and the service on the same clip in one run and reports their ratio."""

import pytest

from service.bench import run_bench
from service.config import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.redis]


def test_bench_reports_both_loops_the_stages_and_the_active_path(redis_url, capsys):
    result = run_bench(Settings(redis_url=redis_url, device="cpu"), None, fps=10, repeat=2, as_json=False)
    assert result["frames"] == result["naive"]["frames"] == 48  # the 2.4 s clip twice at 10 frames/s
    assert result["faces"] == result["naive"]["faces"] == 48
    assert result["times_naive"] == pytest.approx(result["frames_per_s"] / result["naive"]["frames_per_s"], rel=0.02)
    assert result["stages"]["detect"]["items"] == 5  # once a media second (0-4 s), faces followed in between
    assert result["stages"]["refine"]["items"] == 43
    assert result["precision"].startswith("float32 channels-last")
    printed = capsys.readouterr().out
    assert "naive loop" in printed and "x that" in printed and "refine" in printed and "occlusion" in printed
    assert result["decoder_ms_per_face"] > 0
