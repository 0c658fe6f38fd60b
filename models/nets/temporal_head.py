"""The video branch: a face track's cached backbone features -> per-step expression, V/A and confidence.

It joins the spatio-temporal attention of "Multi-task framework for character face recognition and emotion
analysis in TV programs" (the TV-programmes paper) to the GRU encoder of "Multi-task learning for emotion
recognition in the wild".

Why: one frame is noisy (a blink, motion blur, a hand, half a mouth movement) and a per-frame classifier
flips its label with it. The backbone runs once per face per frame; its deepest level D′4 (C×3×3 for a
48×48 face, C the backbone's last width) is cached per track (by the service), and this head runs over
the last S cached maps, so sliding the window by one frame never recomputes the backbone:

    D′4 of S frames ─ spatio-temporal attention (Eq. 3–7 of the TV-programmes paper) ─► B
    D′4 + B (residual: the attention adds what recurs across the clip to each frame's own features)
      ─ spatial mean ─► (S, C) ─ GRU ─► per step: 7 logits, valence/arousal, confidence

The GRU is causal, so the newest step uses no look-ahead; the attention sees the whole window (only past
frames in live use). Windows shorter than S (a new track) are left-padded by repeating their oldest frame
(``pad_window``): training uses the same convention, so a new track behaves like one that held still.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from models.nets.spatiotemporal_attention import SpatioTemporalAttention, temporal_pool
from models.nets.temporal_encoder import TemporalEncoder, TemporalOutput


@dataclass(frozen=True)
class TemporalHeadConfig:
    """Everything needed to rebuild the head; ``window`` is S, the frames it looks at."""

    name: str = "track_gru"
    window: int = 16
    channels: int = 256  # the backbone's last width (train-temporal sets it from the backbone)
    key_channels: int = 64
    top_j: int = 4
    hidden: int = 128
    num_classes: int = 7

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TemporalHeadConfig:
        return cls(**data)


class TemporalEmotionHead(nn.Module):
    """(N, S, 256, h, w) cached D′4 maps of S frames of N tracks -> per-step ``TemporalOutput``."""

    def __init__(self, config: TemporalHeadConfig) -> None:
        super().__init__()
        self.config = config
        self.attention = SpatioTemporalAttention(config.channels, config.key_channels, config.top_j)
        self.encoder = TemporalEncoder(config.channels, config.hidden, config.num_classes)

    def forward(self, features: torch.Tensor) -> TemporalOutput:
        fused = features + self.attention(features)
        return self.encoder(temporal_pool(fused))

    def newest(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Live use: (probabilities (N, C), valence/arousal (N, 2), confidence (N,)) at each window's last step."""
        out = self(features)
        return out.logits[:, -1].softmax(dim=-1), out.valence_arousal[:, -1], out.confidence[:, -1]


def pad_window(features: torch.Tensor, window: int) -> torch.Tensor:
    """(s, ...) newest-last features -> (window, ...): the newest ``window``, left-padded with the oldest."""
    if features.shape[0] < 1:
        raise ValueError("empty window")
    features = features[-window:]
    missing = window - features.shape[0]
    if missing == 0:
        return features
    return torch.cat([features[:1].expand(missing, *features.shape[1:]), features])
