"""Knowledge distillation: an ensemble of trained networks teaches the one network the service runs.

Why: on CPU the shipped network must stay small (one backbone per face per frame), but several
independently trained networks agree on a better answer than any one of them. Their averaged,
temperature-softened probabilities carry that answer (and which wrong classes are plausible) into the
training targets of a single student, so the service keeps one backbone's cost.

Teacher probabilities are computed once per Training row, on the un-augmented face and its mirror, not per
augmented view: a teacher forward pass per step would cost a third of the student's step, and the affine
and photometric jitter of ``fer_data.augment`` does not change what expression a face shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from models.emotion_net import EmotionNet
from models.evaluate import ensemble_probs


def teacher_probs(teachers: Sequence[EmotionNet], images: torch.Tensor, temperature: float) -> torch.Tensor:
    """(N, 1, H, W) faces in [0, 1] -> (N, C): softmax(logits / T) averaged over teachers and mirror views.

    T > 1 flattens each teacher's answer so the student also learns which wrong classes are plausible.
    """
    return torch.from_numpy(ensemble_probs(teachers, images, flip_tta=True, temperature=temperature)).float()


def blend_with_teacher(targets: torch.Tensor, teacher: torch.Tensor, weight: float) -> torch.Tensor:
    """(1 - w)·targets + w·teacher: rows stay distributions; w = 0 leaves the data's targets untouched."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"teacher weight must lie in [0, 1], got {weight}")
    if targets.shape != teacher.shape:
        raise ValueError(f"targets {tuple(targets.shape)} and teacher {tuple(teacher.shape)} differ in shape")
    return (1 - weight) * targets + weight * teacher
