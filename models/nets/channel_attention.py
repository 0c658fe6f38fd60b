"""Channel attention of "Multi-task framework for character face recognition and emotion analysis in TV
programs", §2.2, Eq. 1–2.

``L = sigmoid(MLP(AvgPool(D)) + MLP(MaxPool(D)))`` with one MLP shared by both pooled descriptors,
then ``D' = L ⊗ D`` (channel-wise re-weighting). It lets each backbone level emphasise the channels
that respond to expressive regions (eyes, mouth) and damp background channels.
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelAttention(nn.Module):
    """Re-weights the channels of a feature map by a learned, input-dependent gate in (0, 1)."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))

    def gate(self, features: torch.Tensor) -> torch.Tensor:
        """Eq. 1: the attention weights L, shape (N, C)."""
        avg = features.mean(dim=(2, 3))
        peak = features.amax(dim=(2, 3))
        return torch.sigmoid(self.mlp(avg) + self.mlp(peak))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Eq. 2: D' = L ⊗ D."""
        return features * self.gate(features)[:, :, None, None]
