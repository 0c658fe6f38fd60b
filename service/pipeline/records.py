"""One typed record per face and per analysed frame, filled in stage by stage.

In the spirit of supervision's ``Detections``: a face's detection, track, aligned crop, per-frame network
outputs, temporal-head outputs and held label travel together as fields of one object, so no stage slices
parallel lists by a cursor. Stages fill the fields in order; a field still None has not been reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from service.ingest.frames import VideoFrame
from service.vision.detection import Detection

if TYPE_CHECKING:
    import torch

    from service.identity.characters import Assignment


@dataclass(slots=True)
class FaceRecord:
    """One face in one analysed frame."""

    detection: Detection  # box, score, landmarks in the analysed image's pixels
    track_id: int = 0  # 0 until the tracker assigns one
    crop: np.ndarray | None = None  # aligned model input (H, W[, C]) uint8
    frame_probs: np.ndarray | None = None  # (C,) the per-frame network's class probabilities
    features: torch.Tensor | None = None  # the deepest backbone maps, cached per track for the temporal head
    probs: np.ndarray | None = None  # (C,) the probabilities the timeline reports (temporal head, or per-frame)
    valence_arousal: np.ndarray | None = None  # (2,) matching ``probs``
    occlusion: float | None = None  # 0 visible … 1 covered (the saliency decoder); None without one
    occluded: bool = False  # occlusion at or above the calibrated threshold: the label is held
    saliency: np.ndarray | None = None  # (12, 12) decoder mask of the aligned crop, on frames it was scored
    label: int | None = None  # index of the shown class after the label hold
    character_id: str | None = None  # None while the track is unidentified
    character: str | None = None  # the character's name, or "person N" while unnamed


@dataclass(slots=True)
class FrameRecord:
    """One analysed frame of one stream and its faces."""

    stream_id: str
    frame: VideoFrame
    faces: list[FaceRecord] = field(default_factory=list)
    cut: bool = False  # a shot cut starts at this frame
    assignments: list[Assignment] = field(default_factory=list)  # tracks that got their character at this frame
