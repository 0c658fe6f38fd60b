"""The latest keyframe of each stream, kept as JPEG bytes with its media time: the dashboard's live preview
and the backdrop of spatial heatmaps.

Frames are RGB from decode to here; Pillow encodes and decodes RGB directly, so a keyframe is never
channel-swapped, and Redis holds the raw JPEG (a client without response decoding reads it back as bytes).
"""

from __future__ import annotations

import io

import numpy as np
import redis
from PIL import Image

from service.bus.keys import Keys

JPEG_QUALITY = 80


class KeyframeStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        """``client`` must return bytes (``decode_responses=False``)."""
        self.client = client
        self.keys = keys

    def put(self, stream_id: str, image_rgb: np.ndarray, pts: float = 0.0) -> None:
        buffer = io.BytesIO()
        Image.fromarray(image_rgb).save(buffer, format="JPEG", quality=JPEG_QUALITY)
        pipe = self.client.pipeline()
        pipe.set(self.keys.keyframe(stream_id), buffer.getvalue())
        pipe.set(self.keys.keyframe_pts(stream_id), repr(pts))
        pipe.execute()

    def latest_jpeg(self, stream_id: str) -> tuple[bytes, float] | None:
        """The latest keyframe as stored (JPEG bytes) and its media time, or None before the first one."""
        raw, pts = self.client.mget(self.keys.keyframe(stream_id), self.keys.keyframe_pts(stream_id))
        return (raw, float(pts or 0.0)) if raw else None

    def get(self, stream_id: str) -> np.ndarray | None:
        """The latest keyframe as an RGB array, or None before the first one."""
        raw = self.client.get(self.keys.keyframe(stream_id))
        if not raw:
            return None
        with Image.open(io.BytesIO(raw)) as image:
            return np.asarray(image.convert("RGB"))
