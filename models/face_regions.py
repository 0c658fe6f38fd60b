"""Where the face is in an aligned crop, and how much of it a mask shows: the pure maths of face saliency
targets and of the occlusion score.

Crops are aligned to ``FER_TEMPLATE`` (the median MTCNN landmarks of FER2013 training faces, measured by
``scripts/fer_template.py``), so the face region expected from the landmarks is one fixed mask per crop size:
``landmark_mask`` of the template (an ellipse at 0.5 over the face, a Gaussian peaking at 1 at each landmark,
so the eyes and the mouth weigh most). The saliency decoder is trained to show that region where it is
visible and nothing where something covers it, so ``occlusion_score`` (1 − the expected region's share the
predicted masks show, averaged over the finer scales) says how much of the face is hidden.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# left eye, right eye, nose, left mouth corner, right mouth corner; (x, y) as fractions of the crop side
FER_TEMPLATE = np.array([[0.3077, 0.4052], [0.6854, 0.3984], [0.4972, 0.6190], [0.3350, 0.8037], [0.6570, 0.8029]])
# the face region the occlusion score expects, as fractions of the crop side: an ellipse in this box. The
# median MTCNN box of the same training faces is [0.08, -0.02, 0.89, 1.06] (scripts/fer_template.py); its top
# eighth is forehead and hair, which a fringe or a hat covers without hiding an expression, so the region
# starts at 0.12, above the brows (eyes at 0.40); the decoder was fitted and calibrated on this region.
TEMPLATE_BOX = np.array([0.10, 0.12, 0.90, 1.00])


def landmark_mask(
    box: np.ndarray, landmarks: np.ndarray, size: int, face_level: float = 0.5, sigma_iod: float = 0.25
) -> np.ndarray:
    """(x1, y1, x2, y2) box and (5, 2) landmarks in pixels of a size×size crop -> (size, size) mask in [0, 1]."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5  # pixel centres
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    rx, ry = max((x2 - x1) / 2, 1e-3), max((y2 - y1) / 2, 1e-3)
    mask = np.where(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0, face_level, 0.0).astype(np.float32)
    iod = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    sigma = max(sigma_iod * iod, 1.0)
    for x, y in landmarks:
        blob = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)).astype(np.float32)
        mask = np.maximum(mask, blob)
    return mask


def expected_face_mask(size: int) -> np.ndarray:
    """The face region a crop aligned to the template should show, (size, size) in [0, 1]."""
    return landmark_mask(TEMPLATE_BOX * size, FER_TEMPLATE * size, size)


def occluded_fraction(expected: np.ndarray, covered: np.ndarray) -> float:
    """The share of the expected face region (weighted by ``expected``) that ``covered`` (0–1) hides."""
    return float((expected * covered).sum() / max(float(expected.sum()), 1e-6))


def occlusion_score(masks: Sequence[np.ndarray], expected: np.ndarray) -> float:
    """1 − the share of the expected region the predicted masks (probabilities, one per scale, any sizes)
    show, averaged over the scales given; 0 for a fully visible face, near 1 for a covered one."""
    shown = []
    for mask in masks:
        goal = cv2.resize(expected, mask.shape[::-1], interpolation=cv2.INTER_AREA)
        shown.append(float(np.minimum(mask, goal).sum() / max(float(goal.sum()), 1e-6)))
    return float(np.clip(1.0 - np.mean(shown), 0.0, 1.0))
