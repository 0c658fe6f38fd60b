"""The quality gate: small, blurred or turned-away faces are never identified."""

from __future__ import annotations

import cv2
import numpy as np

from service.identity.quality import QualityGate, assess, yaw_of
from service.vision.detection import Detection

FRONTAL = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], dtype=np.float32)


def textured(size: int = 120) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (size, size, 3), dtype=np.uint8)


def face(box, landmarks=FRONTAL) -> Detection:
    return Detection(np.array(box, dtype=np.float32), 0.99, landmarks)


def test_a_sharp_frontal_face_of_good_size_is_usable():
    quality = assess(textured(), face([10, 10, 110, 110]), QualityGate())
    assert quality.usable and quality.score > 0


def test_small_blurred_and_turned_faces_are_refused_with_a_reason():
    gate = QualityGate()
    assert assess(textured(), face([10, 10, 40, 40]), gate).reason == "face smaller than 40 px"
    blurred = cv2.GaussianBlur(textured(), (31, 31), 12)
    assert assess(blurred, face([10, 10, 110, 110]), gate).reason == "face blurred"
    turned = FRONTAL.copy()
    turned[2] = [95, 70]  # nose far to one side: a profile
    assert assess(textured(), face([10, 10, 110, 110], turned), gate).reason == "face turned away"


def test_yaw_is_zero_for_a_centred_nose_and_grows_as_the_head_turns():
    assert yaw_of(FRONTAL) < 1e-6
    turned = FRONTAL.copy()
    turned[2] = [70, 70]
    assert abs(yaw_of(turned) - 0.25) < 1e-6
