"""Is a face good enough to identify? Size, sharpness and pose from the detector's box and landmarks.

A face too small, too blurred or too far from frontal gives an embedding that lands near strangers; such
faces are never embedded, so their track stays unidentified instead of being guessed. Pure: pixels and
landmarks in, a ``FaceQuality`` out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from service.vision.detection import Detection

_SHARPNESS_SIDE = 64  # the face is resampled to this size first, so sharpness does not depend on face size


@dataclass(frozen=True, slots=True)
class QualityGate:
    """The thresholds a face must pass to be embedded (``Settings.identity_*``)."""

    min_size_px: float = 40.0  # shorter box side in the analysed frame; dlib's descriptor sees a 150 px chip
    min_sharpness: float = 40.0  # variance of the Laplacian of the 64 px grey face
    max_yaw: float = 0.35  # nose offset from the eyes' midpoint, in inter-ocular distances (0 = frontal)


@dataclass(frozen=True, slots=True)
class FaceQuality:
    size_px: float
    sharpness: float
    yaw: float
    reason: str | None  # why the face is not usable; None when it is

    @property
    def usable(self) -> bool:
        return self.reason is None

    @property
    def score(self) -> float:
        """Ranks usable faces of one track: bigger, sharper and more frontal first."""
        return min(self.size_px / 112.0, 1.0) * min(self.sharpness / 200.0, 1.0) * (1.0 - min(self.yaw, 1.0))


def yaw_of(landmarks: np.ndarray) -> float:
    """How far the nose sits from the eyes' midpoint, sideways, in inter-ocular distances."""
    left_eye, right_eye, nose = (np.asarray(p, dtype=np.float64) for p in landmarks[:3])
    axis = right_eye - left_eye
    distance = float(np.linalg.norm(axis))
    if distance < 1e-6:
        return 1.0
    offset = nose - (left_eye + right_eye) / 2
    return abs(float(np.dot(offset, axis / distance))) / distance


def sharpness_of(image: np.ndarray, box: np.ndarray) -> float:
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return 0.0
    face = image[y1:y2, x1:x2]
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY) if face.ndim == 3 else face
    grey = cv2.resize(grey, (_SHARPNESS_SIDE, _SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(image: np.ndarray, detection: Detection, gate: QualityGate) -> FaceQuality:
    x1, y1, x2, y2 = (float(v) for v in detection.box)
    size = min(x2 - x1, y2 - y1)
    yaw = yaw_of(detection.landmarks)
    if size < gate.min_size_px:
        return FaceQuality(size, 0.0, yaw, f"face smaller than {gate.min_size_px:g} px")
    if yaw > gate.max_yaw:
        return FaceQuality(size, 0.0, yaw, "face turned away")
    sharpness = sharpness_of(image, detection.box)
    if sharpness < gate.min_sharpness:
        return FaceQuality(size, sharpness, yaw, "face blurred")
    return FaceQuality(size, sharpness, yaw, None)
