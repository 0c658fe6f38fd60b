import numpy as np
import pytest

from service.analytics import ShotCutDetector


def textured(seed: int = 0, height: int = 90, width: int = 160) -> np.ndarray:
    """A frame with a spread-out histogram, like real footage (a flat colour would be one histogram bin)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, width)[None, :, None]
    noise = rng.integers(-25, 25, size=(height, width, 3))
    tint = np.array([1.0, 0.85, 0.7])[None, None, :]
    return np.clip(ramp * tint + noise, 0, 255).astype(np.uint8)


def test_first_frame_is_never_a_cut_and_identical_frames_are_not_cuts():
    detector = ShotCutDetector()
    frame = textured()
    assert detector.update(frame) is False
    assert detector.last_distance is None
    assert detector.update(frame.copy()) is False
    assert detector.last_distance == pytest.approx(0.0, abs=1e-6)


def test_dark_frame_then_bright_coloured_frame_is_a_cut():
    detector = ShotCutDetector(threshold=0.5)
    dark = np.full((72, 128, 3), 10, dtype=np.uint8)
    bright = np.zeros((72, 128, 3), dtype=np.uint8)
    bright[..., 1] = 230  # saturated green
    assert detector.update(dark) is False
    assert detector.update(bright) is True
    assert detector.last_distance > 0.9


def test_gradual_brightness_change_is_not_a_cut():
    detector = ShotCutDetector()
    base = textured(seed=1).astype(np.int16)
    cuts = [detector.update(np.clip(base + 2 * step, 0, 255).astype(np.uint8)) for step in range(20)]
    assert cuts == [False] * 20
    assert detector.last_distance < 0.2


def test_large_and_grey_frames_are_accepted_and_reset_forgets_the_previous_frame():
    detector = ShotCutDetector()
    assert detector.update(np.zeros((720, 1280), dtype=np.uint8)) is False
    assert detector.update(np.full((720, 1280), 255, dtype=np.uint8)) is True
    detector.reset()
    assert detector.update(np.zeros((720, 1280, 3), dtype=np.uint8)) is False


@pytest.mark.parametrize("kwargs", [{"threshold": 0.0}, {"threshold": 1.5}, {"bins": 1}])
def test_invalid_settings_raise(kwargs):
    with pytest.raises(ValueError):
        ShotCutDetector(**kwargs)
