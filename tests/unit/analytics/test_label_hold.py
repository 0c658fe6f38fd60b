"""Label hold: swaps shorter than the hold never show; clear, lasting changes do, hold_s late."""

from __future__ import annotations

import numpy as np
import pytest

from service.analytics.label_hold import LabelHold

A, B = np.array([0.6, 0.4, 0.0]), np.array([0.3, 0.7, 0.0])
CLOSE = np.array([0.46, 0.54, 0.0])  # B leads, but by less than the margin


def _run(hold: LabelHold, frames: list[tuple[float, np.ndarray]]) -> list[int]:
    return [hold.decide("t", pts, probs) for pts, probs in frames]


def test_first_frame_shows_the_top_class() -> None:
    assert LabelHold().decide(1, 0.0, B) == 1


def test_a_short_swap_never_shows() -> None:
    frames = [(0.0, A), (0.1, A), (0.2, B), (0.3, B), (0.4, A), (0.5, A)]
    assert _run(LabelHold(margin=0.1, hold_s=0.3), frames) == [0] * 6


def test_a_lasting_change_shows_after_the_hold() -> None:
    frames = [(0.0, A)] + [(0.1 * i, B) for i in range(1, 7)]
    assert _run(LabelHold(margin=0.1, hold_s=0.3), frames) == [0, 0, 0, 0, 1, 1, 1]  # led from 0.1, shown at 0.4


def test_a_lead_below_the_margin_never_switches_and_resets_the_clock() -> None:
    frames = [(0.0, A), (0.1, B), (0.2, B), (0.3, CLOSE), (0.4, B), (0.5, B), (0.6, B), (0.7, B)]
    assert _run(LabelHold(margin=0.1, hold_s=0.3), frames) == [0, 0, 0, 0, 0, 0, 0, 1]


def test_zero_hold_and_margin_is_plain_argmax() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=30)
    hold = LabelHold(margin=0.0, hold_s=0.0)
    assert [hold.decide(0, i * 0.1, p) for i, p in enumerate(probs)] == probs.argmax(1).tolist()


def test_tracks_are_independent_and_forgotten() -> None:
    hold = LabelHold(margin=0.1, hold_s=0.3)
    hold.decide("x", 0.0, A)
    hold.decide("y", 0.0, B)
    assert hold.decide("x", 0.1, A) == 0 and hold.decide("y", 0.1, B) == 1
    hold.keep_only(["y"])
    assert hold.decide("x", 0.2, B) == 1  # a new track starts from its top class
    with pytest.raises(ValueError):
        LabelHold(margin=-0.1)


def test_while_the_face_is_covered_its_label_is_held_and_a_challenger_starts_again():
    hold = LabelHold(margin=0.1, hold_s=0.3)
    sad, fear = np.array([0.1, 0.0, 0.1, 0.0, 0.8, 0.0, 0.0]), np.array([0.1, 0.0, 0.8, 0.0, 0.1, 0.0, 0.0])
    assert hold.decide(1, 0.0, sad) == 4
    assert [hold.decide(1, t / 10, fear, occluded=True) for t in range(1, 20)] == [4] * 19  # 1.9 s under a hand
    assert hold.decide(1, 2.0, fear) == 4 and hold.decide(1, 2.2, fear) == 4  # fear must lead 0.3 s of seen face
    assert hold.decide(1, 2.3, fear) == 2


def test_would_change_foresees_exactly_the_frames_where_decide_switches() -> None:
    frames = [(0.0, A), (0.1, B), (0.2, CLOSE), (0.3, B), (0.4, B), (0.5, B), (0.6, B), (0.7, A), (0.8, A)]
    hold, foreseen, shown = LabelHold(margin=0.1, hold_s=0.3), [], []
    for pts, probs in frames:
        foreseen.append(hold.would_change("t", pts, probs))
        shown.append(hold.decide("t", pts, probs))
    switched = [i > 0 and shown[i] != shown[i - 1] for i in range(len(shown))]
    assert foreseen == switched == [False] * 6 + [True, False, False]  # B leads again from 0.3, shown at 0.6
    assert not LabelHold().would_change("unknown", 0.0, B)  # a new track shows its top class: no switch
