"""What face detection yields per face, free of torch so the records that carry it stay importable anywhere."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # x1, y1, x2, y2 in the input image's pixels
    score: float
    landmarks: np.ndarray  # (5, 2): left eye, right eye, nose, left mouth corner, right mouth corner
