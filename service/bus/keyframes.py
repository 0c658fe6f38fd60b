"""Frames kept as JPEG: the latest keyframe of each stream with its media time (the dashboard's live preview
and the backdrop of spatial heatmaps), and the frame of each alert with its subject boxed (its evidence).

Frames are RGB from decode to here; Pillow encodes and decodes RGB directly, so a keyframe is never
channel-swapped, and Redis holds the raw JPEG (a client without response decoding reads it back as bytes).
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import redis
from PIL import Image

from service.bus.keys import Keys

JPEG_QUALITY = 80
ALERT_FRAMES_KEPT = 200  # per stream; older alert frames are dropped (the alerts themselves are kept)
ALERT_FRAME_WIDTH = 480
SUBJECT, OTHERS = (213, 94, 0), (200, 200, 200)  # RGB: the alert's subject in vermilion, other faces grey


def _jpeg(image_rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image_rgb).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def boxed(image_rgb: np.ndarray, subject: list[list[float]], others: list[list[float]], scale: float) -> np.ndarray:
    """A copy at most ``ALERT_FRAME_WIDTH`` wide with the subject's boxes thick and the other faces' thin;
    ``scale`` turns box coordinates into ``image_rgb`` pixels."""
    shrink = min(1.0, ALERT_FRAME_WIDTH / image_rgb.shape[1])
    size = (round(image_rgb.shape[1] * shrink), round(image_rgb.shape[0] * shrink))
    out = cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA) if shrink < 1 else image_rgb.copy()
    for boxes, colour, width in ((others, OTHERS, 1), (subject, SUBJECT, 3)):
        for box in boxes:
            x1, y1, x2, y2 = (round(v * scale * shrink) for v in box)
            cv2.rectangle(out, (x1, y1), (x2, y2), colour, width)
    return out


class KeyframeStore:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        """``client`` must return bytes (``decode_responses=False``)."""
        self.client = client
        self.keys = keys

    def put(self, stream_id: str, image_rgb: np.ndarray, pts: float = 0.0) -> None:
        pipe = self.client.pipeline()
        pipe.set(self.keys.keyframe(stream_id), _jpeg(image_rgb))
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

    def put_alert_frame(self, stream_id: str, alert_id: str, image_rgb: np.ndarray) -> None:
        """Keeps the frame of alert ``alert_id`` (its history id); the oldest beyond ``ALERT_FRAMES_KEPT`` go."""
        key = self.keys.alert_frames(stream_id)
        self.client.hset(key, alert_id, _jpeg(image_rgb))
        if self.client.hlen(key) > ALERT_FRAMES_KEPT:
            ids = sorted((raw.decode() for raw in self.client.hkeys(key)), key=_history_order)
            self.client.hdel(key, *ids[: len(ids) - ALERT_FRAMES_KEPT])

    def alert_frame(self, stream_id: str, alert_id: str) -> bytes | None:
        return self.client.hget(self.keys.alert_frames(stream_id), alert_id)


def _history_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
