"""The one registry of the project's networks: weight kinds and named architectures.

A weights file records its *kind* and its config, so ``build`` rebuilds exactly the network that was
saved, whatever its name; ``create_model`` builds a named architecture from scratch (what ``--model``
of training takes). Unknown names and kinds fail loudly, naming the known ones.
"""

from __future__ import annotations

from torch import nn

from models.nets.emotion_net import EmotionNet, EmotionNetConfig
from models.nets.saliency_decoder import FaceSaliencyNet, SaliencyDecoderConfig
from models.nets.temporal_head import TemporalEmotionHead, TemporalHeadConfig

# kind -> (config class, network class); the kind is what a weights file records.
KINDS: dict[str, tuple[type, type[nn.Module]]] = {
    "emotion_net": (EmotionNetConfig, EmotionNet),
    "temporal_head": (TemporalHeadConfig, TemporalEmotionHead),
    "saliency_decoder": (SaliencyDecoderConfig, FaceSaliencyNet),
}

# architecture name -> (kind, config)
ARCHITECTURES: dict[str, tuple[str, EmotionNetConfig | TemporalHeadConfig]] = {
    "resnet_ca_s": ("emotion_net", EmotionNetConfig(name="resnet_ca_s")),
    # ResNet-18 widths at every level (11.3 M parameters): for training from scratch on a GPU. On these CPUs
    # 7.4 ms per face at batch 8 in fp32, 4.7 ms under bf16 autocast, inside the service's 10 ms budget.
    "resnet_ca_18": ("emotion_net", EmotionNetConfig(name="resnet_ca_18", widths=(64, 128, 256, 512))),
    "track_gru": ("temporal_head", TemporalHeadConfig(name="track_gru")),
}


def architectures(kind: str | None = None) -> list[str]:
    """Names of the registered architectures (of ``kind`` only, when given), sorted."""
    return sorted(name for name, (k, _) in ARCHITECTURES.items() if kind is None or k == kind)


def create_model(name: str) -> nn.Module:
    """A freshly initialised network of the registered architecture ``name``; KeyError naming the known ones."""
    if name not in ARCHITECTURES:
        raise KeyError(f"unknown model {name!r}; known: {architectures()}")
    kind, config = ARCHITECTURES[name]
    return KINDS[kind][1](config)


def build(kind: str, config: dict) -> nn.Module:
    """The network of ``kind`` described by a config dict (as saved in a weights file), freshly initialised."""
    if kind not in KINDS:
        raise KeyError(f"unknown kind {kind!r}; known: {sorted(KINDS)}")
    config_cls, model_cls = KINDS[kind]
    return model_cls(config_cls.from_dict(config))


def kind_of(model: nn.Module) -> str:
    """The kind a weights file records for ``model``; TypeError for a network that is not registered."""
    for kind, (_, cls) in KINDS.items():
        if type(model) is cls:
            return kind
    raise TypeError(f"{type(model).__name__} is not a checkpointable network; known: {sorted(KINDS)}")
