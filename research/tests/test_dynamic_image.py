"""Dynamic image (research/dynamic_image.py, Eq. 1–2): the rank-pooling weights equal their closed form, and
what they imply."""

from fractions import Fraction

import pytest
import torch

from research.dynamic_image import dynamic_image, harmonic_numbers, rank_pooling_weights


def _alpha_exact(n: int) -> list[Fraction]:
    """Eq. 2 in exact rational arithmetic, independent of the module."""
    h = [Fraction(0)]
    for j in range(1, n + 1):
        h.append(h[-1] + Fraction(1, j))
    return [2 * (n - t + 1) - (n + 1) * (h[n] - h[t - 1]) for t in range(1, n + 1)]


def test_weights_for_three_frames_by_hand():
    # H_1 = 1, H_2 = 1.5, H_3 = 11/6:
    # α_1 = 6 - 4·11/6 = -4/3, α_2 = 4 - 4·(11/6 - 1) = 2/3, α_3 = 2 - 4·(11/6 - 3/2) = 2/3
    torch.testing.assert_close(harmonic_numbers(3), torch.tensor([0.0, 1.0, 1.5, 11 / 6], dtype=torch.float64))
    torch.testing.assert_close(rank_pooling_weights(3), torch.tensor([-4 / 3, 2 / 3, 2 / 3]))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_weights_equal_closed_form(n):
    expected = torch.tensor([float(a) for a in _alpha_exact(n)], dtype=torch.float64)
    torch.testing.assert_close(rank_pooling_weights(n, dtype=torch.float64), expected)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 30])
def test_weights_sum_to_zero_for_every_n(n):
    # Σ 2(n-t+1) = n(n+1) and Σ_t (H_n - H_{t-1}) = n, so Σ α_t = 0 exactly (n = 1: the only weight is 0).
    assert sum(_alpha_exact(n)) == 0
    assert abs(float(rank_pooling_weights(n, dtype=torch.float64).sum())) < 1e-12


def test_static_clip_gives_frame_times_sum_of_weights_which_is_zero():
    torch.manual_seed(0)
    frame = torch.rand(2, 1, 3, 5, 5)
    clip = frame.expand(2, 6, 3, 5, 5)
    alpha_sum = rank_pooling_weights(6).sum()
    di = dynamic_image(clip)
    assert di.shape == (2, 3, 5, 5)
    torch.testing.assert_close(di, frame[:, 0] * alpha_sum)
    torch.testing.assert_close(di, torch.zeros_like(di), atol=1e-5, rtol=0)
    assert torch.count_nonzero(dynamic_image(clip, normalize=True)) == 0


def test_linear_brightening_gives_the_sign_of_the_change():
    n = 5
    base = torch.full((1, 1, 2, 4, 4), 0.5)
    step = torch.zeros(1, 1, 2, 4, 4)
    step[..., :2, :] = 0.05  # brightening pixels
    step[..., 2:, :] = -0.03  # darkening pixels (channel 0, bottom half), static in channel 1 below
    step[:, :, 1, 2:, :] = 0.0
    t = torch.arange(1, n + 1, dtype=torch.float32).reshape(1, n, 1, 1, 1)
    clip = base + t * step
    di = dynamic_image(clip)
    # Σ α_t·t > 0, so DI = step · Σ α_t·t (the constant part cancels).
    slope = float((rank_pooling_weights(n) * torch.arange(1, n + 1)).sum())
    assert slope > 0
    torch.testing.assert_close(di, step[:, 0] * slope, atol=1e-5, rtol=1e-5)
    assert (di[:, :, :2] > 0).all()
    assert (di[:, 0, 2:] < 0).all()
    normalized = dynamic_image(clip, normalize=True)
    assert float(normalized.abs().max()) == pytest.approx(1.0)
    assert torch.equal(torch.sign(normalized[:, :, :2]), torch.sign(di[:, :, :2]))


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        rank_pooling_weights(0)
    with pytest.raises(ValueError):
        dynamic_image(torch.zeros(3, 4, 4))
