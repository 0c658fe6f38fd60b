"""The occlusion score's maths on hand-made masks, and the synthetic occluders it is calibrated with."""

import numpy as np
import pytest

from models.data.occluders import KINDS, occlude
from models.face_regions import expected_face_mask, occluded_fraction, occlusion_score


def test_a_mask_showing_the_expected_region_scores_zero_and_an_empty_one_one():
    expected = expected_face_mask(48)
    assert expected.max() == pytest.approx(1.0, abs=0.01) and expected[0, 0] < 1e-3  # landmarks peak, corners out
    fine, coarse = expected_face_mask(24), expected_face_mask(12)
    assert occlusion_score([fine, coarse], expected) < 0.05
    assert occlusion_score([np.zeros((24, 24)), np.zeros((12, 12))], expected) == 1.0
    assert occlusion_score([np.ones((24, 24))], expected) < 1e-6  # showing more than the face is not occlusion


def test_hiding_the_lower_half_scores_about_the_share_of_the_region_it_hides():
    expected = expected_face_mask(48)
    covered = np.zeros((48, 48), np.float32)
    covered[24:] = 1.0
    hidden = occluded_fraction(expected, covered)
    assert 0.4 < hidden < 0.7  # the mouth corners and chin weigh in, the eyes stay
    shown = expected_face_mask(24) * (1 - covered[::2, ::2])
    assert occlusion_score([shown], expected) == pytest.approx(hidden, abs=0.05)


def test_occluders_are_reproducible_cover_part_of_the_face_and_leave_the_rest():
    image = np.full((48, 48), 128, np.uint8)
    others = np.random.default_rng(0).integers(0, 255, (4, 48, 48), dtype=np.uint8)
    expected = expected_face_mask(48)
    for kind in KINDS:
        first = occlude(image, np.random.default_rng(7), others, kind)
        again = occlude(image, np.random.default_rng(7), others, kind)
        np.testing.assert_array_equal(first[0], again[0])
        covered, alpha = first
        assert alpha.min() >= 0 and alpha.max() <= 1
        assert 0.05 < occluded_fraction(expected, alpha) < 0.95, kind
        assert np.all(covered[alpha < 1e-3] == 128)  # outside the occluder the face is untouched
