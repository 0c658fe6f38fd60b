"""Top-down saliency decoder: face-region masks at the four backbone scales.

From "Multi-task framework for character face recognition and emotion analysis in TV programs"
(the TV-programmes paper), §2.4, Eq. 8.

Why: supervising where the face is (Eq. 9–11) makes the shared backbone keep face detail and ignore
background; deep levels carry pose and structure, shallow levels edges and texture, so coarse outputs are
upsampled and added into every finer level ("deep features guiding shallow features").

    G4 = RES(D′4)
    G3 = RES(D′3) + RES(Up(G4))
    G2 = RES(D′2) + RES(Up(G3)) + RES(Up(G4))
    G1 = RES(D′1) + RES(Up(G2)) + RES(Up(G3)) + RES(Up(G4))    (fusion="dense", the default)

The printed Eq. 8 gives G1 = RES(D′1) + RES(Up(G2)) + RES(Up(G4)), skipping G3; ``fusion="paper"`` builds
exactly that (every level gets the next coarser and the deepest level). "dense" adds all coarser levels,
which is the pattern of G2 carried on; both are covered by tests.

Choices: RES is the backbone's residual ``BasicBlock`` (two 3×3 conv+BN, identity shortcut). G_k keeps the
width of backbone level k (32, 64, 128, 256 by default), so RES(D′k) needs no projection; a coarser G_m is
brought to width k by a 1×1 conv *before* upsampling — Up (bilinear to the exact size of level k, its
weights sum to 1 per output pixel) commutes with a 1×1 conv (channel mixing plus bias), so this equals the
1×1 after Up at a fraction of the cost. ``identity_res=True`` replaces every RES by the identity (tests
of the Eq. 8 wiring). A 1×1 head per level gives a one-channel mask logit (sigmoid -> T^k of Eq. 10).

Image and video branches share this one module (shared parameters, §2.4): feed the image levels
[D′1..D′4], or for the video branch the levels of the N·S frames with D′4 replaced by the spatio-temporal
features B4 (same width).

``FaceSaliencyNet`` is the decoder as a shipped network (kind ``saliency_decoder``): fitted on the frozen
shipped backbone to show the visible face and nothing where an occluder covers it
(``models.training.train_decoder``), it runs live on tracked faces for their occlusion score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from models.nets.backbone import BasicBlock


class DecoderOutput(NamedTuple):
    features: list[torch.Tensor]  # [G1..G4], G_k (N, widths[k], h_k, w_k)
    logits: list[torch.Tensor]  # mask logits at the 4 scales, each (N, 1, h_k, w_k)


def fusion_sources(levels: int, fusion: str) -> dict[int, list[int]]:
    """For each 0-based level k, the coarser levels m whose G_m is fused into G_k."""
    if fusion not in ("dense", "paper"):
        raise ValueError(f"fusion must be 'dense' or 'paper', got {fusion!r}")
    deepest = levels - 1
    sources: dict[int, list[int]] = {}
    for k in range(levels - 1):
        sources[k] = list(range(k + 1, levels)) if fusion == "dense" else sorted({k + 1, deepest})
    sources[deepest] = []
    return sources


class SaliencyDecoder(nn.Module):
    """[D′1..D′4] (strides 2, 4, 8, 16) -> [G1..G4] and a mask logit per scale (Eq. 8)."""

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128, 256),
        fusion: str = "dense",
        identity_res: bool = False,
        upsample_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.sources = fusion_sources(len(self.widths), fusion)
        self.upsample_mode = upsample_mode

        def res(width: int) -> nn.Module:
            return nn.Identity() if identity_res else BasicBlock(width, width, 1)

        def project(cin: int, cout: int) -> nn.Module:
            return nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

        self.lateral = nn.ModuleList(res(width) for width in self.widths)  # RES(D′k)
        self.project = nn.ModuleDict()  # 1×1 width_m -> width_k, applied before Up
        self.top_down = nn.ModuleDict()  # RES(Up(G_m)) into level k
        for k, sources in self.sources.items():
            for m in sources:
                self.project[f"{m}to{k}"] = project(self.widths[m], self.widths[k])
                self.top_down[f"{m}to{k}"] = res(self.widths[k])
        self.heads = nn.ModuleList(nn.Conv2d(width, 1, 1) for width in self.widths)

    def upsample(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Up(·) of Eq. 8: resize to the spatial size of the finer level."""
        if x.shape[-2:] == like.shape[-2:]:
            return x
        align = False if self.upsample_mode in ("bilinear", "bicubic") else None
        return F.interpolate(x, size=like.shape[-2:], mode=self.upsample_mode, align_corners=align)

    def forward(self, levels: Sequence[torch.Tensor]) -> DecoderOutput:
        if len(levels) != len(self.widths):
            raise ValueError(f"expected {len(self.widths)} levels, got {len(levels)}")
        for k, (level, width) in enumerate(zip(levels, self.widths, strict=True)):
            if level.dim() != 4 or level.shape[1] != width:
                raise ValueError(f"level {k + 1}: expected (N, {width}, h, w), got {tuple(level.shape)}")
        g: list[torch.Tensor | None] = [None] * len(levels)
        for k in reversed(range(len(levels))):  # coarse to fine
            out = self.lateral[k](levels[k])
            for m in self.sources[k]:
                key = f"{m}to{k}"
                coarse = g[m]
                assert coarse is not None
                out = out + self.top_down[key](self.upsample(self.project[key](coarse), levels[k]))
            g[k] = out
        features = [x for x in g if x is not None]
        return DecoderOutput(features, [head(x) for head, x in zip(self.heads, features, strict=True)])


@dataclass(frozen=True)
class SaliencyDecoderConfig:
    """Everything needed to rebuild the shipped decoder; ``backbone_sha256`` names the backbone it reads."""

    name: str = "face_saliency"
    widths: tuple[int, ...] = (32, 64, 128, 256)
    fusion: str = "dense"
    backbone_sha256: str = ""

    def to_dict(self) -> dict:
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, data: dict) -> SaliencyDecoderConfig:
        return cls(**{**data, "widths": tuple(data["widths"])})


class FaceSaliencyNet(nn.Module):
    """Four backbone levels in (four named inputs, as ONNX export needs them), four mask logits out."""

    def __init__(self, config: SaliencyDecoderConfig) -> None:
        super().__init__()
        self.config = config
        self.decoder = SaliencyDecoder(config.widths, config.fusion)

    def forward(
        self, level1: torch.Tensor, level2: torch.Tensor, level3: torch.Tensor, level4: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        return tuple(self.decoder([level1, level2, level3, level4]).logits)
