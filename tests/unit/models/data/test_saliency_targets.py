"""Saliency targets from landmarks, and augmentation that warps masks with their faces."""

from __future__ import annotations

import numpy as np
import torch

from models.data.fer import augment
from models.data.saliency_targets import landmark_mask

BOX = np.array([8.0, 4.0, 40.0, 46.0])
MARKS = np.array([[16.5, 18.5], [31.5, 18.5], [24.5, 27.5], [18.5, 36.5], [29.5, 36.5]])


def test_mask_peaks_at_landmarks_and_is_face_level_inside_the_box() -> None:
    mask = landmark_mask(BOX, MARKS, 48, face_level=0.5, sigma_iod=0.1)
    assert mask.shape == (48, 48) and mask.min() >= 0.0 and mask.max() <= 1.0
    for x, y in MARKS:
        assert mask[int(y), int(x)] == 1.0  # pixel centre (x + 0.5) sits exactly on the landmark
    assert mask[40, 24] == 0.5  # inside the ellipse, far (> 3 sigma) from every landmark
    assert mask[1, 1] < 1e-6 and mask[24, 2] < 1e-6  # outside the box, far from the landmarks


def test_blob_spread_follows_inter_ocular_distance() -> None:
    narrow = landmark_mask(BOX, MARKS, 48, face_level=0.0, sigma_iod=0.1)
    wide = landmark_mask(BOX, MARKS, 48, face_level=0.0, sigma_iod=0.3)
    # sigma = 0.1 * 15 px = 1.5 px: two pixels away from the left eye is exp(-4 / 4.5)
    assert np.isclose(narrow[18, 18], np.exp(-(2.0**2) / (2 * 1.5**2)), atol=1e-5)
    assert wide.sum() > narrow.sum()


def test_augment_warps_masks_with_the_same_geometry_as_faces() -> None:
    n = 64
    ys, xs = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    blob = torch.exp(-((xs - 14) ** 2 + (ys - 30) ** 2) / 8.0)  # off-centre so flips and shifts move it
    images = (0.2 + 0.3 * blob).expand(n, 1, 48, 48).clone()
    faces, masks = augment(images, torch.Generator().manual_seed(3), blob.expand(n, 1, 48, 48).clone())
    assert masks is not None and masks.shape == images.shape
    same_peak = [
        int(faces[i].flatten().argmax()) == int(masks[i].flatten().argmax()) for i in range(n)
    ]  # photometric jitter is monotonic; only erasing (40 % of faces) can hide the peak
    assert sum(same_peak) >= 0.5 * n
    assert masks.min() >= 0.0 and masks.max() <= 1.0 + 1e-6
    flipped = torch.flip(masks, dims=[-1])
    assert not torch.allclose(flipped, masks)  # the blob really moved: the check above is not trivial
    only_faces, none = augment(images, torch.Generator().manual_seed(3))
    assert none is None and torch.equal(only_faces, faces)  # masks do not change the faces' randomness
