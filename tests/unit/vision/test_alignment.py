import math

import numpy as np
import pytest

from service.vision.alignment import FER_TEMPLATE, align_face, apply_transform, similarity_transform


def rotation(deg: float) -> np.ndarray:
    r = math.radians(deg)
    return np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])


def test_known_similarity_is_recovered_exactly():
    src = FER_TEMPLATE * 100 + 7
    true = np.hstack([1.7 * rotation(25), np.array([[40.0], [-12.0]])])
    dst = apply_transform(true, src)
    estimated = similarity_transform(src, dst)
    np.testing.assert_allclose(estimated, true, atol=1e-9)


def test_landmarks_of_a_rotated_scaled_face_land_on_the_template():
    size = 48
    face_pts = apply_transform(np.hstack([3.0 * rotation(-30), np.array([[200.0], [90.0]])]), FER_TEMPLATE * size)
    matrix = similarity_transform(face_pts, FER_TEMPLATE * size)
    np.testing.assert_allclose(apply_transform(matrix, face_pts), FER_TEMPLATE * size, atol=1e-9)


def test_least_squares_fit_of_noisy_points_has_zero_mean_residual():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(5, 2))
    dst = apply_transform(np.hstack([0.5 * rotation(10), np.array([[3.0], [4.0]])]), src) + rng.normal(0, 0.5, (5, 2))
    residual = apply_transform(similarity_transform(src, dst), src) - dst
    np.testing.assert_allclose(residual.mean(axis=0), 0, atol=1e-9)


def test_mirrored_points_are_not_fit_with_a_reflection():
    src = FER_TEMPLATE * 50
    dst = src * np.array([-1.0, 1.0])
    matrix = similarity_transform(src, dst)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_degenerate_points_raise():
    with pytest.raises(ValueError):
        similarity_transform(np.ones((5, 2)), FER_TEMPLATE)
    with pytest.raises(ValueError):
        similarity_transform(np.zeros((5, 3)), np.zeros((5, 3)))


def test_align_face_samples_the_landmark_pixels_at_template_positions():
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    size = 48
    landmarks = apply_transform(np.hstack([2.5 * rotation(20), np.array([[150.0], [60.0]])]), FER_TEMPLATE * size)
    for x, y in landmarks:
        image[int(round(y)) - 2 : int(round(y)) + 3, int(round(x)) - 2 : int(round(x)) + 3] = 255
    crop = align_face(image, landmarks, size)
    assert crop.shape == (size, size, 3)
    for x, y in FER_TEMPLATE * size:
        assert crop[int(round(y)), int(round(x))].mean() > 200
    assert crop.mean() < 40  # everything else stayed dark
