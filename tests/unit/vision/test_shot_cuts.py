"""Shot cuts on real frames from the bundled clips, with edits built from them: cuts and dissolves count;
a pan, a zoom, a flash, a fade and a fast gesture do not."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from service.vision.shot_cuts import ShotCutDetector
from tests.conftest import DATA

W, H = 640, 360
STEP = 0.2  # 5 analysed frames per second, the default analysis rate


def _frames(name: str, every: int = 6) -> list[np.ndarray]:
    with av.open(str(DATA / name)) as container:
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i % every == 0]
    return [cv2.resize(f, (W, H), interpolation=cv2.INTER_AREA) for f in frames]


@pytest.fixture(scope="module")
def host() -> list[np.ndarray]:
    return _frames("single_face.mp4")


@pytest.fixture(scope="module")
def guest() -> list[np.ndarray]:
    return _frames("carphone_pristine.mp4")


def cuts_of(frames: list[np.ndarray], detector: ShotCutDetector | None = None) -> list[int]:
    detector = detector or ShotCutDetector()
    return [i for i, frame in enumerate(frames) if detector.update(frame, i * STEP)]


def test_consecutive_frames_of_one_shot_are_not_cuts(host, guest):
    assert cuts_of(host) == []
    assert cuts_of(guest) == []


def test_hard_cuts_between_shots_are_found_each_once(host, guest):
    edit = host[:5] + guest[:6] + host[5:10] + guest[6:12]
    assert cuts_of(edit) == [5, 11, 16]


def test_a_cut_to_a_close_up_of_the_same_scene_is_a_cut(host, guest):
    close_up = [cv2.resize(f[60:240, 100:420], (W, H)) for f in guest[:5]]
    wide = [cv2.resize(cv2.copyMakeBorder(f, 180, 180, 320, 320, cv2.BORDER_REFLECT), (W, H)) for f in guest[5:10]]
    assert cuts_of(close_up + wide) == [5]


def test_a_short_dissolve_is_one_cut(host, guest):
    a, b = host[4], guest[4]
    blend = [cv2.addWeighted(a, 1 - t, b, t, 0) for t in (0.33, 0.67)]
    found = cuts_of(host[:5] + blend + guest[4:9])
    assert len(found) == 1 and 5 <= found[0] <= 7


def test_a_fast_pan_is_not_a_cut(host):
    wide = cv2.resize(host[3], (W * 2, H * 2), interpolation=cv2.INTER_CUBIC)
    frames = [wide[100 : 100 + H, 40 * i : 40 * i + W] for i in range(12)]
    assert cuts_of(frames) == []


def test_a_fast_zoom_is_not_a_cut(guest):
    frames = []
    for i in range(8):
        zoom = 1.0 + 0.12 * i
        cw, ch = int(W / zoom), int(H / zoom)
        x, y = (W - cw) // 2, (H - ch) // 2
        frames.append(cv2.resize(guest[i][y : y + ch, x : x + cw], (W, H), interpolation=cv2.INTER_LINEAR))
    assert cuts_of(frames) == []


def test_a_camera_flash_is_not_a_cut(host):
    flash = cv2.addWeighted(host[5], 0.25, np.full_like(host[5], 255), 0.75, 0)
    assert cuts_of(host[:5] + [flash] + host[6:11]) == []
    white = np.full_like(host[5], 250)
    assert cuts_of(host[:5] + [white] + host[6:11]) == []


def test_a_fade_through_black_on_one_shot_is_not_a_cut_but_into_another_shot_is(host, guest):
    out = [(host[5 + i] * (1 - (i + 1) / 4)).astype(np.uint8) for i in range(4)]  # ends at black
    back = [(host[9] * ((i + 1) / 4)).astype(np.uint8) for i in range(4)]
    assert cuts_of(host[:5] + out + back) == []
    into = [(guest[i] * ((i + 1) / 4)).astype(np.uint8) for i in range(4)]
    found = cuts_of(host[:5] + out + into + guest[4:8])
    assert len(found) == 1 and 9 <= found[0] <= 12


def test_a_fast_gesture_is_not_a_cut(host):
    frames = []
    for i, frame in enumerate(host[:10]):
        moved = frame.copy()
        x = 60 * i
        cv2.ellipse(moved, (x, 250), (70, 110), 20, 0, 360, (205, 160, 130), -1)  # a hand sweeping past
        frames.append(moved)
    assert cuts_of(frames) == []


def test_reset_forgets_the_previous_shot(host, guest):
    detector = ShotCutDetector()
    assert cuts_of(host[:3], detector) == []
    detector.reset()
    assert detector.update(guest[0], 10.0) is False


@pytest.mark.parametrize("kwargs", [{"threshold": 0.0}, {"same_shot_ncc": 1.0}, {"same_shot_ncc": 0.0}])
def test_invalid_settings_raise(kwargs):
    with pytest.raises(ValueError):
        ShotCutDetector(**kwargs)
