"""Similarity-transform face alignment to a canonical 5-point template (pure maths + one cv2 warp).

The template is where MTCNN finds the eyes, nose tip and mouth corners on the emotion model's training
crops (FER2013), in units of the crop side, measured by ``scripts/fer_template.py`` (median over 308 single-face
detections in 400 random Training crops, seed 0). Aligning live faces
to it gives the model faces framed the way it learned them.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.face_regions import FER_TEMPLATE


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation mapping ``src`` points onto ``dst`` (Umeyama 1991).

    Returns the 2×3 matrix M with dst ≈ M @ [x, y, 1]. Reflections are excluded so a face is never mirrored.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need matching (N>=2, 2) point sets, got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var < 1e-12:
        raise ValueError("source points are degenerate (all in one place)")
    cov = dst_c.T @ src_c / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(sigma) @ sign) / src_var
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Maps (N, 2) points through a 2×3 affine matrix."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int, template: np.ndarray = FER_TEMPLATE) -> np.ndarray:
    """Warps the face with these 5 landmarks (image pixels) into a ``size``×``size`` crop."""
    matrix = similarity_transform(landmarks, template * size)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def model_crop(image: np.ndarray, landmarks: np.ndarray, size: int, grey: bool) -> np.ndarray:
    """The emotion model's input crop (size, size[, 3]) uint8 of one face of an RGB frame.

    One function for the live path and for the training tracks cut from real video, so both see faces
    framed and converted the same way.
    """
    face = align_face(image, landmarks, size)
    return cv2.cvtColor(face, cv2.COLOR_RGB2GRAY) if grey else face
