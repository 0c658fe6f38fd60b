"""The load governor stretches detection first, then lowers the analysis rate, and recovers in reverse."""

from service.worker.governor import LoadGovernor


def test_behind_it_stretches_detection_first_then_lowers_the_rate_and_recovers_in_reverse():
    governor = LoadGovernor(target_ms=500, max_stretch=4.0, min_rate=0.25)
    steps = []
    for _ in range(8):
        governor.update(900.0, dropped=0)
        steps.append((round(governor.stretch, 2), round(governor.rate, 2)))
    assert steps[:4] == [(1.5, 1.0), (2.25, 1.0), (3.38, 1.0), (4.0, 1.0)]
    assert steps[4:] == [(4.0, 0.67), (4.0, 0.44), (4.0, 0.3), (4.0, 0.25)]  # never below min_rate
    assert governor.behind
    governor.update(400.0, dropped=0)  # under the target but not well under: hold
    assert (governor.stretch, governor.rate) == (4.0, 0.25)
    for _ in range(4):
        governor.update(100.0, dropped=0)
    assert governor.rate == 1.0 and governor.stretch == 4.0  # the rate comes back first
    for _ in range(4):
        governor.update(100.0, dropped=0)
    assert governor.stretch == 1.0 and not governor.behind


def test_dropped_frames_count_as_behind_and_an_idle_second_changes_nothing():
    governor = LoadGovernor()
    governor.update(None, dropped=3)
    assert governor.stretch == 1.5
    governor.update(None, dropped=0)
    assert governor.stretch == 1.5
