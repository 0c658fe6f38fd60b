"""Shot-cut detection, so alerts can tell a changed scene from a changed mood."""

from __future__ import annotations

import cv2
import numpy as np

_WORK_WIDTH = 64  # histograms of a thumbnail are as telling as full frames and cost next to nothing
_RANGES = ((0, 180), (0, 256), (0, 256))  # OpenCV 8-bit HSV: hue is 0..179


class ShotCutDetector:
    """Flags a cut when the colour histogram jumps between consecutive frames.

    The distance is the Bhattacharyya distance (0 = same, 1 = disjoint) between the H, S and V histograms
    of the frame and of the previous frame, each channel normalised to sum 1 and concatenated; that equals
    ``sqrt(1 - mean per-channel Bhattacharyya coefficient)``. Histograms ignore where things are, so camera
    moves and people moving stay below the threshold while a new shot (new lighting, new colours) does not.
    """

    def __init__(self, threshold: float = 0.5, bins: int = 32) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if bins < 2:
            raise ValueError(f"bins must be at least 2, got {bins}")
        self.threshold = threshold
        self.bins = bins
        self._previous: np.ndarray | None = None
        self.last_distance: float | None = None  # kept for logging and threshold tuning

    def reset(self) -> None:
        """Forget the previous frame, e.g. after a source reconnect, so the next frame is not a cut."""
        self._previous = None
        self.last_distance = None

    def update(self, frame_rgb: np.ndarray) -> bool:
        """Feed the next analysed frame (RGB uint8, or grey); True when it starts a new shot."""
        hist = self._histogram(frame_rgb)
        previous, self._previous = self._previous, hist
        if previous is None:
            return False
        self.last_distance = float(cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA))
        return self.last_distance > self.threshold

    def _histogram(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        height, width = frame.shape[:2]
        if width > _WORK_WIDTH:
            size = (_WORK_WIDTH, max(1, round(height * _WORK_WIDTH / width)))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2HSV)
        channels = []
        for channel, value_range in enumerate(_RANGES):
            hist = cv2.calcHist([hsv], [channel], None, [self.bins], list(value_range)).ravel()
            channels.append(hist / max(float(hist.sum()), 1.0))
        return np.concatenate(channels).astype(np.float32)
