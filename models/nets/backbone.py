"""ResNet-style backbone with channel attention at each of its four levels.

The design of "Multi-task framework for character face recognition and emotion analysis in TV programs",
§2.2, sized for real time on CPU: a stride-2 stem puts the first level at 1/2 resolution, so a 48×48 face
costs about 0.1 GMAC. Levels k = 1..4 have stride 2^k, as the paper's multi-level features D^k, and are
returned separately so later stages (saliency decoder, spatio-temporal attention) can reuse them.
"""

from __future__ import annotations

import torch
from torch import nn

from models.nets.channel_attention import ChannelAttention


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
    )


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with an identity (or 1×1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn(cin, cout, stride)
        self.conv2 = _conv_bn(cout, cout, 1)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.conv1(x))
        return torch.relu(self.conv2(out) + self.shortcut(x))


class AttentiveResNet(nn.Module):
    """Backbone returning the four attended feature levels D'^1..D'^4."""

    def __init__(
        self,
        in_channels: int = 1,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        blocks: tuple[int, ...] = (2, 2, 2, 2),
        reduction: int = 8,
    ) -> None:
        super().__init__()
        stem_width = widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_width, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem_width, stem_width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        attentions: list[nn.Module] = []
        cin = stem_width
        for level, (width, depth) in enumerate(zip(widths, blocks, strict=True)):
            stride = 1 if level == 0 else 2
            layers = [BasicBlock(cin, width, stride)] + [BasicBlock(width, width, 1) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*layers))
            attentions.append(ChannelAttention(width, reduction))
            cin = width
        self.stages = nn.ModuleList(stages)
        self.attentions = nn.ModuleList(attentions)
        self.out_channels = widths[-1]
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Returns [D'^1, D'^2, D'^3, D'^4] with strides 2, 4, 8, 16."""
        x = self.stem(x)
        levels: list[torch.Tensor] = []
        for stage, attention in zip(self.stages, self.attentions, strict=True):
            x = attention(stage(x))
            levels.append(x)
        return levels
