import pytest

from service.ingest.sampling import PtsSampler


def accepted(fps: float, pts: list[float]) -> list[float]:
    sampler = PtsSampler(fps)
    return [p for p in pts if sampler.accept(p)]


def test_30fps_source_sampled_at_10fps_keeps_every_third_frame():
    pts = [i / 30 for i in range(30)]
    assert accepted(10, pts) == pytest.approx([i / 10 for i in range(10)])


def test_ntsc_rate_rounding_does_not_skip_frames():
    pts = [i * 1001 / 30000 for i in range(60)]  # 29.97 fps
    out = accepted(5, pts)
    assert len(out) == 10
    assert all(abs(b - a - 0.2) < 0.034 for a, b in zip(out, out[1:], strict=False))


def test_25fps_source_at_10fps_picks_first_frame_at_or_after_each_instant():
    pts = [i / 25 for i in range(25)]
    assert accepted(10, pts) == pytest.approx([0.0, 0.12, 0.2, 0.32, 0.4, 0.52, 0.6, 0.72, 0.8, 0.92])


def test_source_slower_than_analysis_rate_keeps_every_frame():
    pts = [i / 5 for i in range(10)]
    assert accepted(30, pts) == pytest.approx(pts)


def test_variable_frame_rate_follows_time_not_frame_count():
    pts = [0.0, 0.01, 0.02, 0.5, 0.51, 1.0, 1.9, 2.0]
    # 1.9 is the first frame at or after the 1.5 s instant; 2.0 sits on the grid itself
    assert accepted(2, pts) == pytest.approx([0.0, 0.5, 1.0, 1.9, 2.0])


def test_pts_going_back_restarts_the_grid():
    sampler = PtsSampler(1)
    assert [sampler.accept(p) for p in (10.0, 10.5, 11.0, 0.0, 0.5, 1.0)] == [True, False, True, True, False, True]


def test_gap_restarts_the_grid_at_the_next_frame():
    sampler = PtsSampler(1)
    assert [sampler.accept(p) for p in (0.0, 1.0, 100.3, 100.9, 101.3)] == [True, True, True, False, True]


def test_non_positive_fps_is_rejected():
    with pytest.raises(ValueError):
        PtsSampler(0)
