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
from torch import nn


def label_shift_bias(targets: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N, C) soft training targets and (N,) original labels -> (C,) logit offset log π_label − log π_target."""
    num_classes = targets.shape[1]
    label_prior = torch.bincount(labels, minlength=num_classes).double() / len(labels)
    target_prior = targets.double().mean(dim=0)
    if (label_prior <= 0).any() or (target_prior <= 0).any():
        raise ValueError("every class needs training rows for a label-shift correction")
    return (label_prior.log() - target_prior.log()).float()


@contextmanager
def shifted(layer: nn.Linear, bias: torch.Tensor | None) -> Iterator[nn.Linear]:
    """Adds ``bias`` to an expression layer's bias while the block runs (no-op for None), then restores it."""
    if bias is None:
        yield layer
        return
    head = layer.bias
    original = head.detach().clone()  # restored bit for bit, so training goes on from the same weights
    with torch.no_grad():
        head.add_(bias.to(head.device, head.dtype))
    try:
        yield layer
    finally:
        with torch.no_grad():
            head.copy_(original)


def unshift(probs: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """(..., C) probabilities of a shifted head -> those of the unshifted head (the inverse of ``shifted``)."""
    if bias is None:
        return probs
    return (probs.clamp_min(1e-12).log() - bias.to(probs.device, probs.dtype)).softmax(dim=-1)


def manifest_record(bias: torch.Tensor | None) -> dict | str:
    """What a weights manifest entry says about the correction folded into it (read by ``folded_bias``)."""
    if bias is None:
        return "none"
    return {
        "expression_bias_offset": [round(float(v), 5) for v in bias],
        "why": "log prior of the original Training labels minus log prior of the blended targets, folded into "
        "the expression bias (label-shift correction, models/training/prior_shift.py)",
    }


def folded_bias(entry: dict) -> torch.Tensor | None:
    """The offset a weights manifest entry says was folded into its expression bias, or None."""
    shift = entry.get("prior_shift")
    if not isinstance(shift, dict):
        return None
    return torch.tensor(shift["expression_bias_offset"], dtype=torch.float32)
