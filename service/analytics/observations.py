"""What the analytics consume: per-frame face results in media time, independent of the model and the wire format."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from models.labels import FER_CLASSES

CLASSES: tuple[str, ...] = FER_CLASSES  # the emotion networks' classes, named once in the torch-free models.labels
POLARITIES: tuple[str, ...] = ("positive", "negative", "neutral")


@dataclass(frozen=True)
class FaceObservation:
    """One face in one analysed frame; ``box`` is normalised so analytics never need the frame size."""

    track_id: int
    label: str
    polarity: str
    probs: Mapping[str, float]
    confidence: float
    valence: float | None
    arousal: float | None
    box: tuple[float, float, float, float]
    occluded: bool = False  # the face was covered (its label was held, not read)
    saliency: tuple[tuple[float, ...], ...] | None = None  # 12×12 mask of the aligned face, when it was scored

    def __post_init__(self) -> None:
        # Fail at the producer, not as a silently wrong share in a window far downstream.
        if self.label not in CLASSES:
            raise ValueError(f"label must be one of {CLASSES}, got {self.label!r}")
        if self.polarity not in POLARITIES:
            raise ValueError(f"polarity must be one of {POLARITIES}, got {self.polarity!r}")


@dataclass(frozen=True)
class FrameObservation:
    """All faces of one analysed frame; ``pts`` is media time so replays give identical analytics."""

    pts: float
    faces: tuple[FaceObservation, ...]
    cut: bool = False

    def only(self, track_ids: Collection[int]) -> FrameObservation:
        """This frame with only the faces of ``track_ids`` (one character's tracks, say); the frame still counts."""
        return dataclasses.replace(self, faces=tuple(face for face in self.faces if face.track_id in track_ids))
