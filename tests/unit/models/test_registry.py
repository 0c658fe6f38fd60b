"""The one registry: named architectures, weight kinds, and loud failures for unknown names."""

import json

import pytest
import torch

from models.nets.emotion_net import EmotionNet, EmotionNetConfig
from models.nets.temporal_head import TemporalEmotionHead, TemporalHeadConfig
from models.registry import architectures, build, create_model, kind_of


def test_unknown_model_name_fails_loudly():
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        create_model("nope")
    with pytest.raises(KeyError, match="unknown kind 'nope'"):
        build("nope", {})


def test_config_round_trips_through_dict():
    config = EmotionNetConfig(name="x", widths=(8, 16, 32, 64))
    assert EmotionNetConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_named_architectures_and_their_kinds():
    assert architectures() == ["resnet_ca_18", "resnet_ca_s", "track_gru"]
    assert architectures("emotion_net") == ["resnet_ca_18", "resnet_ca_s"]
    net, head = create_model("resnet_ca_s"), create_model("track_gru")
    assert isinstance(net, EmotionNet) and net.config == EmotionNetConfig(name="resnet_ca_s")
    assert isinstance(head, TemporalEmotionHead) and head.config == TemporalHeadConfig(name="track_gru")
    assert (kind_of(net), kind_of(head)) == ("emotion_net", "temporal_head")
    with pytest.raises(TypeError, match="not a checkpointable network"):
        kind_of(torch.nn.Linear(2, 2))


def test_build_rebuilds_any_config_of_a_kind_even_unregistered_names():
    config = EmotionNetConfig(name="not_registered", widths=(8, 16, 32, 64))
    net = build("emotion_net", json.loads(json.dumps(config.to_dict())))
    assert isinstance(net, EmotionNet) and net.config == config and net.num_features == 64
    head = build("temporal_head", TemporalHeadConfig(window=4, hidden=32).to_dict())
    assert isinstance(head, TemporalEmotionHead) and head.config.window == 4
