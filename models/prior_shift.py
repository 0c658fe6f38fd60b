"""Label-shift correction from the training targets' class prior to the original labels' prior.

Training targets blend the original label with the FER+ vote distribution, so the network learns
p_target(y | x), whose class prior differs from that of the original labels it is scored on (the votes
move mass from fear and sadness to neutral). Under label shift, p_label(y | x) ∝ p_target(y | x) ·
π_label(y) / π_target(y), so adding log π_label − log π_target to the expression logits turns one into
the other. Both priors come from the Training rows only; nothing is tuned on PublicTest.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from models.emotion_net import EmotionNet


def label_shift_bias(targets: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N, C) soft training targets and (N,) original labels -> (C,) logit offset log π_label − log π_target."""
    num_classes = targets.shape[1]
    label_prior = torch.bincount(labels, minlength=num_classes).double() / len(labels)
    target_prior = targets.double().mean(dim=0)
    if (label_prior <= 0).any() or (target_prior <= 0).any():
        raise ValueError("every class needs training rows for a label-shift correction")
    return (label_prior.log() - target_prior.log()).float()


@contextmanager
def shifted(model: EmotionNet, bias: torch.Tensor | None) -> Iterator[EmotionNet]:
    """Adds ``bias`` to the expression head while the block runs (no-op for None), then takes it off."""
    if bias is None:
        yield model
        return
    head = model.expression.bias
    original = head.detach().clone()  # restored bit for bit, so training goes on from the same weights
    with torch.no_grad():
        head.add_(bias.to(head.device, head.dtype))
    try:
        yield model
    finally:
        with torch.no_grad():
            head.copy_(original)
