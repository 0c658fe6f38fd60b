"""Per-face emotion network: attentive backbone plus multi-task heads (expression, valence/arousal).

The forward pass is split the way the service uses it: ``forward_features`` gives the four attended
backbone levels (the decoder trains on all of them, the temporal head caches the deepest), and
``forward_head`` turns the deepest level into the per-frame outputs. Named architectures live in
``models.registry``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from models.labels import FER_CLASSES
from models.nets.backbone import AttentiveResNet


@dataclass(frozen=True)
class EmotionNetConfig:
    """Everything needed to rebuild the network and feed it: input geometry, normalisation, labels."""

    name: str
    input_size: int = 48
    in_channels: int = 1
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    reduction: int = 8
    dropout: float = 0.3
    mean: float = 0.508
    std: float = 0.255
    classes: tuple[str, ...] = field(default=FER_CLASSES)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EmotionNetConfig:
        tuples = {"widths", "blocks", "classes"}
        return cls(**{k: tuple(v) if k in tuples else v for k, v in data.items()})


class EmotionOutput(NamedTuple):
    logits: torch.Tensor  # (N, C) expression logits
    valence_arousal: torch.Tensor  # (N, 2) in [-1, 1]
    embedding: torch.Tensor  # (N, D) pooled deepest backbone level


class EmotionNet(nn.Module):
    """Backbone features once per face, then light heads on the pooled deepest level."""

    def __init__(self, config: EmotionNetConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = AttentiveResNet(config.in_channels, config.widths, config.blocks, config.reduction)
        dim = self.backbone.out_channels
        self.dropout = nn.Dropout(config.dropout)
        self.expression = nn.Linear(dim, len(config.classes))
        self.valence_arousal = nn.Linear(dim, 2)

    @property
    def num_features(self) -> int:
        """Channels of the deepest level D′4, what ``forward_head`` takes and the temporal head caches."""
        return self.backbone.out_channels

    def normalise(self, faces: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) faces in [0, 1] -> the standardised input the backbone was trained on."""
        return (faces - self.config.mean) / self.config.std

    def forward_features(self, faces: torch.Tensor) -> list[torch.Tensor]:
        """(N, C, H, W) faces in [0, 1] -> the attended levels [D′1, D′2, D′3, D′4] (strides 2, 4, 8, 16)."""
        return self.backbone(self.normalise(faces))

    def forward_head(self, deepest: torch.Tensor) -> EmotionOutput:
        """Deepest level D′4 (N, D, h, w) -> expression logits, valence/arousal and the pooled embedding."""
        embedding = deepest.mean(dim=(2, 3))
        hidden = self.dropout(embedding)
        return EmotionOutput(self.expression(hidden), torch.tanh(self.valence_arousal(hidden)), embedding)

    def forward(self, faces: torch.Tensor) -> EmotionOutput:
        return self.forward_head(self.forward_features(faces)[-1])
