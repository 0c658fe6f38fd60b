"""Keyframes against a real Redis: raw JPEG bytes in, the same RGB picture out, no channel swap."""

import numpy as np
import pytest
import redis

from service.bus.keyframes import KeyframeStore
from service.bus.keys import Keys

pytestmark = pytest.mark.redis


def test_a_keyframe_round_trips_as_rgb_jpeg(redis_url, key_prefix):
    keys = Keys(key_prefix)
    store = KeyframeStore(redis.Redis.from_url(redis_url), keys)
    assert store.get("s") is None
    image = np.zeros((72, 128, 3), np.uint8)
    image[:, :64] = (220, 30, 30)  # red left half, blue right half: a swap would show at once
    image[:, 64:] = (30, 30, 220)
    store.put("s", image)
    raw = redis.Redis.from_url(redis_url).get(keys.keyframe("s"))
    assert raw[:2] == b"\xff\xd8"  # stored as the JPEG itself, not base64 text
    back = store.get("s")
    assert back.shape == image.shape
    assert np.abs(back.astype(int) - image.astype(int)).mean() < 4
    assert back[36, 10, 0] > 180 and back[36, 120, 2] > 180


def test_alert_frames_box_their_subject_and_keep_only_the_latest(redis_url, key_prefix, monkeypatch):
    from service.bus import keyframes

    monkeypatch.setattr(keyframes, "ALERT_FRAMES_KEPT", 3)
    store = KeyframeStore(redis.Redis.from_url(redis_url), Keys(key_prefix))
    image = np.zeros((360, 1280, 3), np.uint8)  # analysed at 1280 wide, boxes in 2560-wide source pixels
    picture = keyframes.boxed(image, [[200, 100, 600, 500]], [[1600, 100, 2000, 500]], scale=0.5)
    assert picture.shape == (135, 480, 3)  # shrunk to the evidence width
    assert tuple(picture[56, 37]) == keyframes.SUBJECT  # the subject's left edge: 200 * 0.5 * 0.375
    assert tuple(picture[56, 300]) == keyframes.OTHERS and tuple(picture[56, 200]) == (0, 0, 0)
    for n in range(5):
        store.put_alert_frame("s", f"17000000000{n:02d}-0", picture)
    assert store.alert_frame("s", "1700000000000-0") is None  # the oldest two were dropped
    assert store.alert_frame("s", "1700000000004-0")[:2] == b"\xff\xd8"
