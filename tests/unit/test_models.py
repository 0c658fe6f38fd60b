"""Model maths and contracts: channel attention equals its formula, shapes, registry, checkpoint checks."""

import json

import pytest
import torch

from models.channel_attention import ChannelAttention
from models.checkpoint import WeightsError, load_model, save_weights, write_manifest_entry
from models.circumplex import CIRCUMPLEX, FER_CLASSES, expected_valence_arousal
from models.emotion_net import EmotionNetConfig, create_model
from models.fer_data import soft_targets
from models.metrics import flip_rate, summarize


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


def test_unknown_model_name_fails_loudly():
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        create_model("nope")


def test_config_round_trips_through_dict():
    config = EmotionNetConfig(name="x", widths=(8, 16, 32, 64))
    assert EmotionNetConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_checkpoint_round_trip_and_hash_check(tmp_path):
    model = create_model("resnet_ca_s").eval()
    sha = save_weights(model, tmp_path / "m.pt")
    write_manifest_entry(tmp_path, "m", {"file": "m.pt", "sha256": sha})
    loaded, entry = load_model(tmp_path, "m")
    x = torch.rand(2, 1, 48, 48)
    torch.testing.assert_close(loaded(x).logits, model(x).logits)
    with open(tmp_path / "m.pt", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(WeightsError, match="sha256"):
        load_model(tmp_path, "m")


def test_missing_weights_are_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="no weights manifest"):
        load_model(tmp_path, "emotion")
    write_manifest_entry(tmp_path, "emotion", {"file": "gone.pt", "sha256": "0"})
    with pytest.raises(WeightsError, match="missing"):
        load_model(tmp_path, "emotion")
    with pytest.raises(WeightsError, match="not in"):
        load_model(tmp_path, "other")


def test_soft_targets_blend_original_label_and_votes():
    labels = torch.tensor([3, 0])
    votes = torch.tensor([[0, 0, 0, 0.5, 0, 0, 0.5], [0, 0, 0, 0, 0, 0, 0]])
    targets = soft_targets(labels, votes, vote_weight=0.4, smoothing=0.0)
    torch.testing.assert_close(targets[0], torch.tensor([0, 0, 0, 0.8, 0, 0, 0.2]))
    torch.testing.assert_close(targets[1], torch.tensor([1.0, 0, 0, 0, 0, 0, 0]))  # no votes: original only


def test_expected_valence_arousal_is_the_circumplex_mean():
    probs = torch.zeros(1, 7)
    probs[0, FER_CLASSES.index("happy")] = 0.5
    probs[0, FER_CLASSES.index("sad")] = 0.5
    expected = (torch.tensor(CIRCUMPLEX["happy"]) + torch.tensor(CIRCUMPLEX["sad"])) / 2
    torch.testing.assert_close(expected_valence_arousal(probs)[0], expected)


def test_metrics_by_hand():
    import numpy as np

    report = summarize(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    assert report["accuracy"] == 0.75
    assert report["recall"] == [0.5, 1.0]
    assert report["confusion"] == [[1, 1], [0, 2]]
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert flip_rate(["a", "a", "b", "b", "a"]) == 0.5
    assert flip_rate(["a"]) == 0.0
