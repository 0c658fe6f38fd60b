"""Function-preserving widening of a trained EmotionNet (Net2WiderNet, Chen et al., ICLR 2016).

Training a wider backbone from scratch on two CPU cores would spend many hours just getting back to where
the narrow one already is. Widening instead copies the narrow network into the wider one so the wider one
starts with *exactly* the same outputs, then trains its new capacity:

* every new output channel j of a layer is a copy of an old channel ``g(j)`` (the first ``old`` indices
  map to themselves, the rest to randomly drawn old channels): weights, bias and BatchNorm statistics;
* the layer that reads a copied channel splits the old weight between the copies so their sum is
  unchanged. The split is random per weight, not 1/count: equal halves would give the copies identical
  gradients forever, and they would never learn anything different.

Copies commute with everything between layers (BatchNorm per channel, ReLU, the per-channel attention
gate whose mean and max pooling see identical copies), so the widened network computes the same
function up to float rounding (a unit test checks it).

Tried on the shipped ``resnet_ca_s`` (widened into ``RESNET_CA_W`` and trained on): it reached the same
PublicTest plateau at about twice the cost per face, so the product does not ship it; the config lives here,
not in ``models.registry``. Weights of a widened network still load anywhere (``models.weights.load_model``
rebuilds them from the config they record).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from models.nets.backbone import AttentiveResNet, BasicBlock
from models.nets.channel_attention import ChannelAttention
from models.nets.emotion_net import EmotionNet, EmotionNetConfig

# ResNet-18 widths on the two deep levels only: they hold most parameters but, at 6×6 and 3×3, little of the
# compute, so parameters grow 3.7× for 2.3× the MACs of resnet_ca_s.
RESNET_CA_W = EmotionNetConfig(name="resnet_ca_w", widths=(32, 64, 256, 512))


def channel_map(old: int, new: int, generator: torch.Generator) -> torch.Tensor:
    """(new,) old-channel index of each new channel: identity first, then random copies."""
    if new < old:
        raise ValueError(f"cannot narrow {old} channels to {new}")
    extra = torch.randint(0, old, (new - old,), generator=generator)
    return torch.cat([torch.arange(old), extra])


def split_weights(in_map: torch.Tensor, rows: int, generator: torch.Generator) -> torch.Tensor:
    """(rows, new_in) positive factors that sum to 1 over the copies of each old input channel, per row."""
    raw = torch.rand(rows, len(in_map), generator=generator) + 0.5
    totals = torch.zeros(rows, int(in_map.max()) + 1).index_add_(1, in_map, raw)
    return raw / totals[:, in_map]


def _copy_weight(
    weight: torch.Tensor, out_map: torch.Tensor | None, in_map: torch.Tensor | None, generator: torch.Generator
) -> torch.Tensor:
    """A conv (O, I, kh, kw) or linear (O, I) weight with copied output rows and split input columns."""
    if out_map is not None:
        weight = weight[out_map]
    if in_map is not None:
        factors = split_weights(in_map, weight.shape[0], generator)
        weight = weight[:, in_map] * factors.reshape(*factors.shape, *([1] * (weight.dim() - 2)))
    return weight


def _layer(
    old: nn.Conv2d | nn.Linear,
    new: nn.Conv2d | nn.Linear,
    out_map: torch.Tensor | None,
    in_map: torch.Tensor | None,
    generator: torch.Generator,
) -> None:
    new.weight.copy_(_copy_weight(old.weight, out_map, in_map, generator))
    if old.bias is not None:
        new.bias.copy_(old.bias if out_map is None else old.bias[out_map])


def _batchnorm(old: nn.BatchNorm2d, new: nn.BatchNorm2d, out_map: torch.Tensor) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(new, name).copy_(getattr(old, name)[out_map])
    new.num_batches_tracked.copy_(old.num_batches_tracked)


def _block(old: BasicBlock, new: BasicBlock, in_map: torch.Tensor, out_map: torch.Tensor, g: torch.Generator) -> None:
    # conv1's outputs are the block's private channels; reusing the level's map keeps the code to one map
    # per level (any consistent map preserves the function).
    _layer(old.conv1[0], new.conv1[0], out_map, in_map, g)
    _batchnorm(old.conv1[1], new.conv1[1], out_map)
    _layer(old.conv2[0], new.conv2[0], out_map, out_map, g)
    _batchnorm(old.conv2[1], new.conv2[1], out_map)
    if isinstance(old.shortcut, nn.Sequential):
        _layer(old.shortcut[0], new.shortcut[0], out_map, in_map, g)
        _batchnorm(old.shortcut[1], new.shortcut[1], out_map)


def _attention(old: ChannelAttention, new: ChannelAttention, level_map: torch.Tensor, g: torch.Generator) -> None:
    hidden_map = channel_map(old.mlp[0].out_features, new.mlp[0].out_features, g)
    _layer(old.mlp[0], new.mlp[0], hidden_map, level_map, g)
    _layer(old.mlp[2], new.mlp[2], level_map, hidden_map, g)


def _backbone(old: AttentiveResNet, new: AttentiveResNet, maps: list[torch.Tensor], g: torch.Generator) -> None:
    _layer(old.stem[0], new.stem[0], maps[0], None, g)
    _batchnorm(old.stem[1], new.stem[1], maps[0])
    _layer(old.stem[3], new.stem[3], maps[0], maps[0], g)
    _batchnorm(old.stem[4], new.stem[4], maps[0])
    in_map = maps[0]  # the stem is as wide as level 1
    for level, (old_stage, new_stage) in enumerate(zip(old.stages, new.stages, strict=True)):
        for old_block, new_block in zip(old_stage, new_stage, strict=True):
            _block(old_block, new_block, in_map, maps[level], g)
            in_map = maps[level]
        _attention(old.attentions[level], new.attentions[level], maps[level], g)


def widen(model: EmotionNet, config: EmotionNetConfig, seed: int = 0) -> EmotionNet:
    """A new EmotionNet of ``config`` computing ``model``'s function; only the widths may differ (and grow)."""
    old = model.config
    same = ("input_size", "in_channels", "blocks", "reduction", "mean", "std", "classes")
    changed = [name for name in same if getattr(old, name) != getattr(config, name)]
    if changed or len(old.widths) != len(config.widths):
        raise ValueError(f"widening changes only the widths; {old.name!r} and {config.name!r} differ in {changed}")
    generator = torch.Generator().manual_seed(seed)
    maps = [channel_map(a, b, generator) for a, b in zip(old.widths, config.widths, strict=True)]
    wide = EmotionNet(config)
    with torch.no_grad():
        _backbone(model.backbone, wide.backbone, maps, generator)
        _layer(model.expression, wide.expression, None, maps[-1], generator)
        _layer(model.valence_arousal, wide.valence_arousal, None, maps[-1], generator)
    return wide


def widen_weights(path: Path, config: EmotionNetConfig = RESNET_CA_W, seed: int = 0) -> EmotionNet:
    """The EmotionNet saved at ``path`` (a ``models.weights.save_weights`` file) widened into ``config``.

    ValueError when the saved design differs in more than its widths.
    """
    payload = torch.load(path, map_location="cpu", weights_only=True)
    narrow = EmotionNet(EmotionNetConfig.from_dict(payload["config"]))
    narrow.load_state_dict(payload["state_dict"])
    try:
        return widen(narrow, config, seed)
    except ValueError as exc:
        raise ValueError(f"{path} holds {narrow.config.name!r}, which cannot become {config.name!r}: {exc}") from exc
