"""Builders for scripted test videos: FER stills of known classes on coloured 'studio' backgrounds.

A background change between segments is a real shot cut; the face stays where it was, as in a cut
between two cameras on the same presenter position.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

FRAME_W, FRAME_H, FACE_PX, FACE_AT = 640, 360, 200, (220, 80)
FER_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013_trainval.npz"


@dataclass(frozen=True)
class Segment:
    face: np.ndarray  # 48×48 grey still
    background: tuple[int, int, int]  # RGB
    seconds: float


def compose_frame(face: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """An RGB frame with the upscaled still pasted on a flat background."""
    frame = np.empty((FRAME_H, FRAME_W, 3), dtype=np.uint8)
    frame[:] = background
    big = cv2.resize(face, (FACE_PX, FACE_PX), interpolation=cv2.INTER_CUBIC)
    x, y = FACE_AT
    frame[y : y + FACE_PX, x : x + FACE_PX] = big[:, :, None]
    # a few texture stripes so backgrounds differ in more than one histogram bin
    frame[::40, :, :] = np.array(background) // 2
    return frame


def write_clip(path: Path, segments: list[Segment], fps: int = 10) -> None:
    """Encodes the segments back to back with H.264 at near-lossless quality."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "10", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = FRAME_W, FRAME_H, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        index = 0
        for segment in segments:
            image = compose_frame(segment.face, segment.background)
            for _ in range(round(segment.seconds * fps)):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = index
                index += 1
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def pick_stills(
    pipeline,
    images: np.ndarray,
    labels: np.ndarray,
    wanted: str,
    background: tuple[int, int, int],
    count: int,
    min_confidence: float = 0.7,
    limit: int = 150,
) -> list[np.ndarray]:
    """Stills of class ``wanted`` that the real pipeline detects once and classifies as ``wanted`` confidently."""
    classifier = pipeline.classifier
    classes = classifier.classes
    picked: list[np.ndarray] = []
    for index in np.flatnonzero(labels == classes.index(wanted))[:limit]:
        frame = compose_frame(images[index], background)
        detections = pipeline.detector.detect([frame])[0]
        if len(detections) != 1:
            continue
        probs = classifier.infer([classifier.crop(frame, detections[0].landmarks)]).probs[0]
        if classes[int(probs.argmax())] == wanted and probs.max() >= min_confidence:
            picked.append(images[index])
            if len(picked) == count:
                return picked
    raise AssertionError(f"found only {len(picked)} confident {wanted} stills")
