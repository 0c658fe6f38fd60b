"""Knowledge distillation: an ensemble of trained networks teaches the one network the service runs.

Why: on CPU the shipped network must stay small (one backbone per face per frame), but several
independently trained networks agree on a better answer than any one of them. Their averaged,
temperature-softened probabilities carry that answer (and which wrong classes are plausible) into the
training targets of a single student, so the service keeps one backbone's cost.

Teacher probabilities are computed once per Training row, on the un-augmented face and its mirror, not per
augmented view: a teacher forward pass per step would cost a third of the student's step, and the affine
and photometric jitter of ``models.data.fer.augment`` does not change what expression a face shows.

Not in the product: the only second network CPU training could produce was too weak to teach (averaged with
the shipped one it scored below the shipped one alone), so the shipped weights were never distilled and
``python -m models train`` has no teacher options. ``distilled_targets`` gives the targets, and what a
manifest entry would record about them, to a training loop that wants them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from models.evaluation.evaluate import ensemble_probs
from models.nets.emotion_net import EmotionNet
from models.weights import WeightsError, load_model


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


def load_teachers(
    weights_dir: Path, names: Sequence[str], device: torch.device | str = "cpu"
) -> list[tuple[EmotionNet, dict]]:
    """The named models of ``weights_dir``'s manifest with their entries (sha256 checked).

    A missing or mismatched one is a ``WeightsError`` that says it was a teacher.
    """
    try:
        return [load_model(weights_dir, name, device) for name in names]
    except WeightsError as exc:
        raise WeightsError(f"teacher: {exc}") from exc


def distilled_targets(
    targets: torch.Tensor,
    images: torch.Tensor,
    teachers: Sequence[tuple[EmotionNet, dict]],
    names: Sequence[str],
    weight: float,
    temperature: float,
) -> tuple[torch.Tensor, dict]:
    """Every Training row's targets blended with the teachers' answer, and what a manifest entry records.

    Pass all Training rows, so a label-shift correction measured afterwards sees the targets it corrects.
    The record holds ``teachers`` (name and sha256 of each) and ``targets``, a phrase to append to the
    description of the data's own targets.
    """
    soft = teacher_probs([net for net, _ in teachers], images, temperature)
    record = {
        "teachers": [
            {"model": name, "sha256": entry["sha256"]} for name, (_, entry) in zip(names, teachers, strict=True)
        ],
        "targets": f"then (1-{weight})*that + {weight}*teachers' mean flip-averaged softmax(logits/{temperature})",
    }
    return blend_with_teacher(targets, soft, weight), record
