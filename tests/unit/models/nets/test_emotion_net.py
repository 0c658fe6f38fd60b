"""The per-face network: channel attention equals its formula, backbone strides, the forward API."""

import pytest
import torch

from models.nets.channel_attention import ChannelAttention
from models.nets.emotion_net import EmotionNet, EmotionNetConfig
from models.registry import create_model


def test_channel_attention_equals_eq_1_and_2():
    torch.manual_seed(0)
    attention = ChannelAttention(8, reduction=2)
    d = torch.randn(2, 8, 3, 4)
    w1, b1 = attention.mlp[0].weight, attention.mlp[0].bias
    w2, b2 = attention.mlp[2].weight, attention.mlp[2].bias

    def mlp(v):
        return torch.relu(v @ w1.T + b1) @ w2.T + b2

    avg = d.mean(dim=(2, 3))
    peak = d.flatten(2).max(dim=2).values
    expected_l = torch.sigmoid(mlp(avg) + mlp(peak))
    torch.testing.assert_close(attention.gate(d), expected_l)
    torch.testing.assert_close(attention(d), d * expected_l[:, :, None, None])


def test_backbone_levels_have_strides_2_4_8_16():
    model = create_model("resnet_ca_s").eval()
    levels = model.backbone(torch.zeros(2, 1, 48, 48))
    assert [tuple(level.shape) for level in levels] == [
        (2, 32, 24, 24),
        (2, 64, 12, 12),
        (2, 128, 6, 6),
        (2, 256, 3, 3),
    ]
    out = model(torch.rand(3, 1, 48, 48))
    assert out.logits.shape == (3, 7) and out.valence_arousal.shape == (3, 2) and out.embedding.shape == (3, 256)
    assert out.valence_arousal.abs().max() <= 1


def test_forward_is_forward_head_of_the_deepest_of_forward_features():
    torch.manual_seed(0)
    model = create_model("resnet_ca_s").eval()
    faces = torch.rand(4, 1, 48, 48)
    with torch.no_grad():
        levels = model.forward_features(faces)
        direct = model.backbone(model.normalise(faces))
        split = model.forward_head(levels[-1])
        whole = model(faces)
    assert len(levels) == 4 and all(torch.equal(a, b) for a, b in zip(levels, direct, strict=True))
    for ours, theirs in zip(split, whole, strict=True):
        torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(split.embedding, levels[-1].mean(dim=(2, 3)))
    assert model.num_features == levels[-1].shape[1] == model.expression.in_features == 256


@pytest.mark.parametrize("widths", [(8, 16, 24, 40), (4, 8, 8, 12)])
def test_num_features_follows_the_deepest_width(widths):
    model = EmotionNet(EmotionNetConfig(name="x", widths=widths)).eval()
    with torch.no_grad():
        deepest = model.forward_features(torch.rand(1, 1, 48, 48))[-1]
    assert model.num_features == widths[-1] == deepest.shape[1]
