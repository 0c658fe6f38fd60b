"""Multi-task loss of "Multi-task framework for character face recognition and emotion analysis in TV
programs", §2.5, Eq. 9–11, with the recognition losses of this service.

Why: face-saliency supervision at four scales keeps the shared features on the face (Eq. 11); the
recognition terms (expression, valence/arousal) are what the service reports. Their scales differ and
drift during training, so the balance is learned rather than hand-set — Table 3 of the TV-programmes paper
finds learnable weights more robust on video than fixed ones.

Terms (each a mean, so none grows with batch size or clip length S):

* saliency_video = Σ_k α_k BCE(T^k, H_video↓k) over the N·S frames of the video branch (Eq. 11, first sum);
* saliency_image = Σ_k α_k BCE(T^k, H_image↓k) over the images of the image branch (Eq. 11, second sum);
* expression = cross-entropy with soft targets (class probabilities; integer labels also accepted);
* valence_arousal = MSE on the two tanh outputs.

BCE is Eq. 10 with the usual minus sign (the print omits it), computed from logits for stability
(T = sigmoid(logit)). α_k are fixed per-scale weights shared by all frames (Eq. 11 indexes α_uk by frame
too; nothing in the paper makes them differ per frame). The ground-truth mask H (N, 1, H, W) or (N, H, W)
in [0, 1] is brought to each mask's size by area averaging (adaptive average pooling): a cell's target is
the fraction of face pixels it covers, a soft label BCE accepts; for 48×48 -> 24/12/6/3 the cells are exact.

Learnable weights are realised as homoscedastic uncertainty (Kendall et al., 2018): each present term i
adds loss_i · exp(−s_i) + s_i with a learnable log-variance s_i. The +s_i stops the trivial solution of
driving a weight to zero; a raw learnable β multiplying a loss would simply shrink to 0. β of Eq. 9/11 is
thus the learned ratio exp(s_video − s_image) of the two saliency precisions. With all s_i = 0 the total is
the plain sum of the terms. A term whose inputs are not given (e.g. a batch with no images) is left out,
its s_i included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

TASKS: tuple[str, ...] = ("saliency_video", "saliency_image", "expression", "valence_arousal")


def downsample_mask(target: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """(N, 1, H, W) or (N, H, W) mask in [0, 1] -> (N, 1, h, w) by area averaging (fraction of face pixels)."""
    if target.dim() == 3:
        target = target[:, None]
    target = target.float()
    if tuple(target.shape[-2:]) == tuple(size):
        return target
    return F.adaptive_avg_pool2d(target, tuple(size))


def multiscale_bce(
    logits: Sequence[torch.Tensor], target: torch.Tensor, scale_weights: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """Σ_k α_k · mean BCE(sigmoid(logits_k), target↓k); logits_k (N, 1, h_k, w_k), one per scale."""
    if len(logits) != len(scale_weights):
        raise ValueError(f"{len(logits)} mask scales but {len(scale_weights)} scale weights")
    total = logits[0].new_zeros(())
    for alpha, logit in zip(scale_weights, logits, strict=True):
        goal = downsample_mask(target, logit.shape[-2:]).to(logit.dtype)
        total = total + alpha * F.binary_cross_entropy_with_logits(logit, goal.expand_as(logit))
    return total


class LossOutput(NamedTuple):
    total: torch.Tensor  # scalar to back-propagate
    parts: dict[str, torch.Tensor]  # unweighted term of each present task
    weights: dict[str, torch.Tensor]  # exp(−s_i) applied to each present task (detached, for logging)


class MultiTaskLoss(nn.Module):
    """Eq. 9–11 plus recognition terms, balanced by learnable log-variances ``log_vars`` (one per task)."""

    def __init__(self, scale_weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0), init_log_var: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("scale_weights", torch.tensor(list(scale_weights), dtype=torch.float32))
        self.log_vars = nn.Parameter(torch.full((len(TASKS),), float(init_log_var)))

    def log_var(self, task: str) -> torch.Tensor:
        return self.log_vars[TASKS.index(task)]

    def forward(
        self,
        *,
        video_masks: Sequence[torch.Tensor] | None = None,
        video_target: torch.Tensor | None = None,
        image_masks: Sequence[torch.Tensor] | None = None,
        image_target: torch.Tensor | None = None,
        expression_logits: torch.Tensor | None = None,
        expression_target: torch.Tensor | None = None,
        valence_arousal: torch.Tensor | None = None,
        valence_arousal_target: torch.Tensor | None = None,
    ) -> LossOutput:
        parts: dict[str, torch.Tensor] = {}
        if video_masks is not None and video_target is not None:
            parts["saliency_video"] = multiscale_bce(video_masks, video_target, self.scale_weights)
        if image_masks is not None and image_target is not None:
            parts["saliency_image"] = multiscale_bce(image_masks, image_target, self.scale_weights)
        if expression_logits is not None and expression_target is not None:
            parts["expression"] = F.cross_entropy(expression_logits, expression_target)
        if valence_arousal is not None and valence_arousal_target is not None:
            parts["valence_arousal"] = F.mse_loss(valence_arousal, valence_arousal_target)
        if not parts:
            raise ValueError("no loss term has both its prediction and its target")
        total = self.log_vars.new_zeros(())
        weights: dict[str, torch.Tensor] = {}
        for task, loss in parts.items():
            s = self.log_var(task)
            total = total + loss * torch.exp(-s) + s
            weights[task] = torch.exp(-s).detach()
        return LossOutput(total, parts, weights)

    def beta(self) -> torch.Tensor:
        """The effective β of Eq. 9/11: image-branch weight relative to the video branch."""
        return torch.exp(self.log_var("saliency_video") - self.log_var("saliency_image")).detach()
