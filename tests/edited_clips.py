"""Builders for edited test videos: shots cut from the bundled real clips, joined with hard cuts by PyAV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tests.conftest import DATA


@dataclass(frozen=True)
class Shot:
    clip: str  # a file in tests/data
    start: int  # first source frame
    frames: int
    step: int = 1  # -1 plays the shot backwards from ``start`` (a longer shot from a short clip, no jump)


def read_frames(clip: str) -> list[np.ndarray]:
    with av.open(str(DATA / clip)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def write_edit(path: Path, shots: Sequence[Shot], size: tuple[int, int] = (640, 360), fps: int = 25) -> list[float]:
    """Writes the shots back to back (each source frame resized to ``size``, letterboxed); returns cut times."""
    sources = {shot.clip: read_frames(shot.clip) for shot in shots}
    cuts, written = [], 0
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for n, shot in enumerate(shots):
            if n:
                cuts.append(written / fps)
            frames = sources[shot.clip]
            for i in range(shot.frames):
                image = _fit(frames[(shot.start + i * shot.step) % len(frames)], size)
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
                written += 1
        for packet in stream.encode():
            container.mux(packet)
    return cuts


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scales to fit ``size`` keeping the aspect ratio, on a black background."""
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
    out = np.zeros((height, width, 3), dtype=np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    out[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return out


def portrait(frame: np.ndarray, box: np.ndarray, size: tuple[int, int] = (640, 360), face_w: int = 150) -> np.ndarray:
    """The face in ``box`` as a studio portrait: scaled to ``face_w`` px wide, centred at one spot, head and
    shoulders cut out onto one flat grey backdrop. Portraits of different people then share the frame's
    layout and most of its pixels, as a series of stills on one backdrop does."""
    width, height = size
    (x1, y1, x2, y2), centre_x, centre_y = box, width / 2, height * 0.47
    scale = face_w / (x2 - x1)
    move = np.float32([[scale, 0, centre_x - scale * (x1 + x2) / 2], [0, scale, centre_y - scale * (y1 + y2) / 2]])
    placed = cv2.warpAffine(frame, move, (width, height)).astype(np.float32)
    mask = np.zeros((height, width), np.float32)
    centre = (round(centre_x), round(centre_y + 0.13 * face_w))
    cv2.ellipse(mask, centre, (round(face_w * 0.75), round(face_w * 1.1)), 0, 0, 360, 1.0, -1)
    cv2.rectangle(mask, (round(centre_x - 1.2 * face_w), centre[1] + round(0.8 * face_w)),
                  (round(centre_x + 1.2 * face_w), height), 1.0, -1)  # fmt: skip
    mask = cv2.GaussianBlur(mask, (0, 0), 4)[..., None]
    return (placed * mask + 128.0 * (1 - mask)).astype(np.uint8)


def write_stills(path: Path, stills: Sequence[np.ndarray], seconds: float, fps: int = 25) -> None:
    """Each still held for ``seconds``, back to back, with hard cuts between them."""
    height, width = stills[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for still in stills:
            frame = av.VideoFrame.from_ndarray(still, format="rgb24")
            for _ in range(round(seconds * fps)):
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
