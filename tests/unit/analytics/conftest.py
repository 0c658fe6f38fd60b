"""Factories for analytics observations; fixtures return plain functions so tests read like data."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from service.analytics import CLASSES, FaceObservation, FrameObservation
from service.config import DEFAULT_POLARITY

POLARITY_OF = DEFAULT_POLARITY


def make_face(
    label: str = "neutral",
    track_id: int = 1,
    confidence: float = 0.9,
    valence: float | None = None,
    arousal: float | None = None,
    box: tuple[float, float, float, float] = (0.4, 0.4, 0.6, 0.6),
    probs: dict[str, float] | None = None,
    occluded: bool = False,
    saliency: tuple[tuple[float, ...], ...] | None = None,
) -> FaceObservation:
    return FaceObservation(
        track_id=track_id,
        label=label,
        polarity=POLARITY_OF[label],
        probs=probs if probs is not None else {name: float(name == label) for name in CLASSES},
        confidence=confidence,
        valence=valence,
        arousal=arousal,
        box=box,
        occluded=occluded,
        saliency=saliency,
    )


def make_frame(pts: float, *faces: FaceObservation, cut: bool = False) -> FrameObservation:
    return FrameObservation(pts=pts, faces=tuple(faces), cut=cut)


@pytest.fixture
def face() -> Callable[..., FaceObservation]:
    return make_face


@pytest.fixture
def frame() -> Callable[..., FrameObservation]:
    return make_frame
