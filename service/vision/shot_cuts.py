"""Shot cuts on the analysed frames: PySceneDetect proposes, a motion- and light-compensated check verifies.

PySceneDetect's ``ContentDetector`` (mean HSV pixel change, its documented threshold 27) finds real hard cuts
that colour histograms miss (two shots of one studio share a palette). Fed only the analysed frames (a few
per second), it also fires on a fast pan or zoom, a camera flash or a quick fade, where every pixel changes
but the shot does not. So each proposal is verified: the previous frame is aligned to the current one under
a global translation (phase correlation) at a few zoom factors, both are normalised to zero mean and unit
variance (which removes a global change of brightness or contrast), and if any alignment correlates above
``same_shot_ncc`` and the hue of the coloured pixels has not changed completely, the frames show one shot and
the proposal is dropped. On the bundled clips real cuts correlate at 0.16-0.41, a pan, a zoom, a flash or a
fade of one shot at 0.75-1.0.

Short dissolves change each analysed frame by only part of a cut, so a second pair of detectors compares every
frame with the one two steps back. Blank frames (a fade through black, a white flash frame) never start a shot
and are skipped as references, so a fade out and in on the same shot is not a cut, and a fade into another
shot is one. Pure: frames in, one bool out per frame, no clock and no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np
from scenedetect import FrameTimecode
from scenedetect.detectors import ContentDetector

_CONTENT_WIDTH = 256  # PySceneDetect's own default downscale target for SD/HD input
_CHECK_WIDTH = 128  # enough structure to tell one shot from another, at a fraction of a millisecond
_ZOOMS = tuple(
    sorted((1.05**k for k in range(-6, 7)), key=lambda z: abs(z - 1))
)  # up to 1.34x: a fast zoom over two steps
_BLANK_STD = 6.0  # grey levels: a frame this flat (black, white, one colour) has no shot to compare
_TIMEBASE = 1000.0  # FrameTimecode rate: media time in milliseconds
_COLOURED = 40  # HSV saturation and value (0-255) from which a pixel's hue counts
_SAME_HUE = 0.7  # Bhattacharyya distance of hue histograms above which the palette changed completely


@dataclass(frozen=True, slots=True)
class _Thumb:
    """One analysed frame, reduced to what the detector compares."""

    bgr: np.ndarray  # for PySceneDetect
    grey: np.ndarray  # float32, for the same-shot check
    hue: np.ndarray | None  # hue histogram of the coloured pixels; None when too few pixels carry colour
    blank: bool


class ShotCutDetector:
    """Says whether each analysed frame starts a new shot; one instance per stream."""

    def __init__(self, threshold: float = 22.0, same_shot_ncc: float = 0.6) -> None:
        if threshold <= 0:
            raise ValueError(f"threshold must be positive, got {threshold}")
        if not 0.0 < same_shot_ncc < 1.0:
            raise ValueError(f"same_shot_ncc must be in (0, 1), got {same_shot_ncc}")
        self.threshold = threshold
        self.same_shot_ncc = same_shot_ncc
        self.last_ncc: float | None = None  # best same-shot correlation of the last proposal (for tuning)
        self.reset()

    def reset(self) -> None:
        """Forget the past, e.g. after a source reconnect, so the next frame is not a cut."""
        # [0]: consecutive frames; [1], [2]: frames two steps apart, one detector per parity
        self._detectors = [self._content_detector() for _ in range(3)]
        self._recent: deque[_Thumb] = deque(maxlen=2)  # the last two non-blank frames, newest last
        self._frames = 0
        self._since_cut = 2  # analysed frames since the last cut; a dissolve must not give two cuts

    def update(self, frame_rgb: np.ndarray, pts: float) -> bool:
        """Feed the next analysed frame (RGB or grey uint8) at media time ``pts``; True when it starts a shot."""
        thumb = _thumbnail(frame_rgb)
        if thumb.blank:
            return False
        timecode = FrameTimecode(max(pts, 0.0), fps=_TIMEBASE)
        one_step = bool(self._detectors[0].process_frame(timecode, thumb.bgr))
        two_steps = bool(self._detectors[1 + self._frames % 2].process_frame(timecode, thumb.bgr))
        self._frames += 1
        cut = False
        if one_step and self._recent:
            cut = self._different_shots(self._recent[-1], thumb)
        if not cut and two_steps and len(self._recent) == 2 and self._since_cut >= 2:
            cut = self._different_shots(self._recent[0], thumb)
        self._recent.append(thumb)
        self._since_cut = 0 if cut else self._since_cut + 1
        if cut:  # the frames before the cut are another shot: nothing may be compared across it
            self._recent.clear()
            self._recent.append(thumb)
        return cut

    def _different_shots(self, before: _Thumb, after: _Thumb) -> bool:
        self.last_ncc = _best_alignment_ncc(before.grey, after.grey)
        if self.last_ncc < self.same_shot_ncc:
            return True
        # the same layout in other colours: a cut between two cameras on one framing (a flash or a fade keeps hue)
        if before.hue is None or after.hue is None:
            return False
        return cv2.compareHist(before.hue, after.hue, cv2.HISTCMP_BHATTACHARYYA) > _SAME_HUE

    def _content_detector(self) -> ContentDetector:
        # min_scene_len 0: PySceneDetect's flash filter would hold cuts back; we verify each one instead
        return ContentDetector(threshold=self.threshold, min_scene_len=0)


def _thumbnail(frame: np.ndarray) -> _Thumb:
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    content = _resize(frame, _CONTENT_WIDTH)
    bgr = cv2.cvtColor(content, cv2.COLOR_RGB2BGR)
    small = _resize(content, _CHECK_WIDTH)  # from the 256-px copy: one full-frame resize, not two
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    coloured = ((hsv[..., 1] >= _COLOURED) & (hsv[..., 2] >= _COLOURED)).astype(np.uint8)
    hue = None
    if coloured.mean() >= 0.05:
        hue = cv2.calcHist([hsv], [0], coloured, [30], [0, 180]).ravel()
        hue = (hue / hue.sum()).astype(np.float32)
    return _Thumb(bgr, grey, hue, float(grey.std()) < _BLANK_STD)


def _resize(frame: np.ndarray, width: int) -> np.ndarray:
    height, current = frame.shape[:2]
    if current <= width:
        return frame
    return cv2.resize(frame, (width, max(1, round(height * width / current))), interpolation=cv2.INTER_AREA)


def _best_alignment_ncc(before: np.ndarray, after: np.ndarray) -> float:
    """The highest normalised correlation of ``after`` with ``before`` zoomed and shifted onto it."""
    height, width = after.shape
    window = cv2.createHanningWindow((width, height), cv2.CV_32F)
    centre = (width / 2, height / 2)
    best = -1.0
    for zoom in _ZOOMS:
        scaled = cv2.warpAffine(before, cv2.getRotationMatrix2D(centre, 0.0, zoom), (width, height))
        (dx, dy), _ = cv2.phaseCorrelate(scaled, after, window)
        # keep only what both frames show: the zoomed, shifted frame's footprint
        moved = cv2.warpAffine(scaled, np.float32([[1, 0, dx], [0, 1, dy]]), (width, height))
        mask = cv2.warpAffine(
            cv2.warpAffine(np.ones_like(before), cv2.getRotationMatrix2D(centre, 0.0, zoom), (width, height)),
            np.float32([[1, 0, dx], [0, 1, dy]]),
            (width, height),
        )
        inside = mask > 0.99
        if inside.sum() < 0.25 * inside.size:
            continue
        best = max(best, ncc(moved[inside], after[inside]))
    return best


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two arrays of one shape: 1 alike, 0 unrelated, whatever the exposure."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)  # no copy for the cut check's float32 frames
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 1e-6 else 0.0
