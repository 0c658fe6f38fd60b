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
