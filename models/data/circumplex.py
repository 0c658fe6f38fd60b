"""Valence/arousal coordinates of the seven FER2013 classes on Russell's circumplex.

FER2013 has no valence/arousal labels. Until real V/A data is added, the V/A heads are trained on the
expectation of these coordinates under the (soft) class target, and the manifest says so. Values are
approximate placements of the category words on the circumplex (valence, arousal in [-1, 1]).
"""

from __future__ import annotations

import torch

from models.labels import FER_CLASSES

CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "angry": (-0.51, 0.59),
    "disgust": (-0.60, 0.35),
    "fear": (-0.64, 0.60),
    "happy": (0.81, 0.51),
    "sad": (-0.63, -0.27),
    "surprise": (0.40, 0.67),
    "neutral": (0.0, 0.0),
}


def circumplex_matrix(classes: tuple[str, ...] = FER_CLASSES) -> torch.Tensor:
    """(C, 2) tensor of (valence, arousal) rows in class order."""
    return torch.tensor([CIRCUMPLEX[name] for name in classes], dtype=torch.float32)


def expected_valence_arousal(probs: torch.Tensor, classes: tuple[str, ...] = FER_CLASSES) -> torch.Tensor:
    """(N, C) class distribution -> (N, 2) expected (valence, arousal)."""
    return probs @ circumplex_matrix(classes).to(probs.device, probs.dtype)
