"""Per-face emotion network: attentive backbone plus multi-task heads (expression, valence/arousal).

Configs are registered by name (``create_model``) so a checkpoint names its architecture and the
service can rebuild it exactly; an unknown name fails loudly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from models.backbone import AttentiveResNet
from models.circumplex import FER_CLASSES


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


MODEL_CONFIGS: dict[str, EmotionNetConfig] = {
    "resnet_ca_s": EmotionNetConfig(name="resnet_ca_s"),
    # ResNet-18 widths on the two deep levels only: they hold most parameters but, at 6×6 and 3×3, little
    # of the compute, so parameters grow 3.7× for 2.3× the MACs (models/widen.py grows _s into it).
    "resnet_ca_w": EmotionNetConfig(name="resnet_ca_w", widths=(32, 64, 256, 512)),
}


class EmotionOutput(NamedTuple):
    logits: torch.Tensor  # (N, C) expression logits
    valence_arousal: torch.Tensor  # (N, 2) in [-1, 1]
    embedding: torch.Tensor  # (N, D) pooled backbone features, cached per track by temporal stages


class EmotionNet(nn.Module):
    """Backbone features once per face, then light heads on the pooled embedding."""

    def __init__(self, config: EmotionNetConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = AttentiveResNet(config.in_channels, config.widths, config.blocks, config.reduction)
        dim = self.backbone.out_channels
        self.dropout = nn.Dropout(config.dropout)
        self.expression = nn.Linear(dim, len(config.classes))
        self.valence_arousal = nn.Linear(dim, 2)

    def normalise(self, faces: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) faces in [0, 1] -> the standardised input the backbone was trained on."""
        return (faces - self.config.mean) / self.config.std

    def embed(self, faces: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) faces in [0, 1] -> pooled deepest features (N, D)."""
        return self.backbone(self.normalise(faces))[-1].mean(dim=(2, 3))

    def heads(self, deepest: torch.Tensor) -> EmotionOutput:
        """Deepest backbone level D′4 (N, D, h, w) -> expression, valence/arousal and the pooled embedding."""
        embedding = deepest.mean(dim=(2, 3))
        hidden = self.dropout(embedding)
        return EmotionOutput(self.expression(hidden), torch.tanh(self.valence_arousal(hidden)), embedding)

    def forward(self, faces: torch.Tensor) -> EmotionOutput:
        return self.heads(self.backbone(self.normalise(faces))[-1])


def create_model(name: str) -> EmotionNet:
    """Builds a registered architecture; raises KeyError naming the known ones otherwise."""
    if name not in MODEL_CONFIGS:
        raise KeyError(f"unknown model {name!r}; known: {sorted(MODEL_CONFIGS)}")
    return EmotionNet(MODEL_CONFIGS[name])
