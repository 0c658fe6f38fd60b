"""Spatio-temporal attention over the deepest features of one face track.

From "Multi-task framework for character face recognition and emotion analysis in TV programs"
(the TV-programmes paper), §2.3, Eq. 3–7.

Why: a face that is occluded or blurred in one frame is usually clear in its neighbours. Correlating every
position of every frame with every position of all S frames lets the masks favour the regions whose content
recurs across the clip (the face) and damp what is transient (background motion, a hand passing by). Only
Key and Value are used, no Query, which the paper chose to save compute over a full non-local block.

The printed equations are ambiguous in places; this is the reading implemented (P = h·w positions per
frame, L = S·P positions in the clip, V key channels):

* Eq. 3: Θ = Conv1×1_key(D′) as (L × V) and φ = Conv1×1_value(D′) as (V × L), per track.
* Eq. 4: X = Θ φ, (L × L) — the printed "Θ * Ξ" is read as Θ * φ. X[i, s·P + q] correlates position i
  (of any frame) with position q of frame s.
* Eq. 5, C1 = Reshape(X), (L × S × P): row (i, s) holds i's correlations with the P positions of frame s.
* C_TOP = TopJ(C1) along P, (L × S × J): per (position, frame) row the J largest correlations are kept,
  sorted descending; the other P − J entries are excluded. The printed shape keeps the frame axis, so TopJ
  picks the J most related *positions* within each frame (the text's "J most relevant frames" cannot be
  meant literally: it would remove the S axis instead). The position's own frame is included. Needs J ≤ P.
* C2 = Mean(C_TOP) over the frame axis, (L × J): the printed "(SGQ/16/16) × I × J" is read as a singleton
  frame axis, the only reading under which C3 can be reshaped to S × P × J. C2[i, j] is how strongly i's
  j-th best match is present on average over the S frames ("C_MAX" in the print is read as C_TOP).
* C3 = SoftMax(C2 / √V) reshaped to (S × P × J), softmax over the P positions of each frame (Eq. 6), so
  Ψ_j[s] is a distribution over the h×w grid of frame s: Ψ has shape (S, J, h, w), sums to 1 over (h, w).
* Eq. 7: B_j = Conv1×1_j(Ψ_j ⊗ D′) with ⊗ a per-position product broadcast over channels, Z/J output
  channels each (Z must be divisible by J); B = concat_j B_j has Z channels like D′. The J convs run as one
  grouped conv. Ψ is multiplied by P before ⊗, so a uniform mask leaves features at the backbone's scale
  (a constant the conv could absorb; it only keeps initial activations well scaled).

The attention is non-causal inside the window: each frame sees all S frames. For live use run it over the
last S cached features of a track (``TemporalEmotionHead`` does) and read the newest step.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn


class AttentionMaps(NamedTuple):
    correlation: torch.Tensor  # C1 (N, L, S, P): X reshaped, row (i, s) = i against the positions of frame s
    top_values: torch.Tensor  # C_TOP (N, L, S, J): the J largest entries of each row, descending
    top_indices: torch.Tensor  # (N, L, S, J): which of the P positions of frame s were kept
    masks: torch.Tensor  # Ψ (N, S, J, h, w): non-negative, each (n, s, j) sums to 1 over (h, w)


class SpatioTemporalAttention(nn.Module):
    """(N, S, Z, h, w) deepest features of S frames of a track -> spatio-temporal features B, same shape."""

    def __init__(self, channels: int = 256, key_channels: int = 64, top_j: int = 4) -> None:
        super().__init__()
        if top_j < 1 or channels % top_j:
            raise ValueError(f"top_j must be >= 1 and divide channels={channels}, got {top_j}")
        self.channels = channels
        self.key_channels = key_channels
        self.top_j = top_j
        self.key = nn.Conv2d(channels, key_channels, 1)
        self.value = nn.Conv2d(channels, key_channels, 1)
        # J independent 1×1 convs Z -> Z/J (Eq. 7), run as one grouped conv over the J masked copies.
        self.project = nn.Conv2d(channels * top_j, channels, 1, groups=top_j)

    def attention_maps(self, features: torch.Tensor) -> AttentionMaps:
        """Eq. 3–6: correlation map, TopJ selection and the J masks Ψ."""
        n, s, z, h, w = self._check(features)
        p, v, j = h * w, self.key_channels, self.top_j
        flat = features.reshape(n * s, z, h, w)
        theta = self.key(flat).reshape(n, s, v, p).permute(0, 1, 3, 2).reshape(n, s * p, v)  # (N, L, V)
        phi = self.value(flat).reshape(n, s, v, p).permute(0, 2, 1, 3).reshape(n, v, s * p)  # (N, V, L)
        correlation = torch.bmm(theta, phi).reshape(n, s * p, s, p)  # Eq. 4, C1 of Eq. 5
        top_values, top_indices = correlation.topk(j, dim=-1, largest=True, sorted=True)  # C_TOP
        c2 = top_values.mean(dim=2)  # (N, L, J): mean over the frame axis
        c3 = (c2.reshape(n, s, p, j) / math.sqrt(v)).softmax(dim=2)  # softmax over the P positions, Eq. 6
        masks = c3.permute(0, 1, 3, 2).reshape(n, s, j, h, w)
        return AttentionMaps(correlation, top_values, top_indices, masks)

    def apply_masks(self, features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Eq. 7: B = concat_j Conv1×1_j(P·Ψ_j ⊗ D′), (N, S, Z, h, w)."""
        n, s, z, h, w = self._check(features)
        masked = masks[:, :, :, None] * features[:, :, None] * (h * w)  # (N, S, J, Z, h, w)
        out = self.project(masked.reshape(n * s, self.top_j * z, h, w))
        return out.reshape(n, s, z, h, w)

    def attend(self, features: torch.Tensor) -> tuple[torch.Tensor, AttentionMaps]:
        """B and the intermediate maps (for inspection and tests)."""
        maps = self.attention_maps(features)
        return self.apply_masks(features, maps.masks), maps

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.attend(features)[0]

    def _check(self, features: torch.Tensor) -> tuple[int, int, int, int, int]:
        if features.dim() != 5 or features.shape[2] != self.channels:
            raise ValueError(f"expected (N, S, {self.channels}, h, w), got {tuple(features.shape)}")
        n, s, z, h, w = features.shape
        if self.top_j > h * w:
            raise ValueError(f"top_j={self.top_j} exceeds the {h * w} positions per frame")
        return n, s, z, h, w


def temporal_pool(features: torch.Tensor) -> torch.Tensor:
    """(N, S, Z, h, w) -> (N, S, Z): one vector per track step (spatial mean), the temporal encoder's input.

    A mean keeps the same embedding convention as ``EmotionOutput.embedding`` (pooled D′4), so per-frame and
    spatio-temporal embeddings are interchangeable inputs for the heads.
    """
    return features.mean(dim=(-2, -1))
