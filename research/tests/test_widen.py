"""Net2WiderNet widening (research/widen.py): same function, wider layers, copies free to diverge."""

import pytest
import torch

from models.nets.emotion_net import EmotionNet, EmotionNetConfig
from models.registry import architectures, create_model
from models.weights import save_weights
from research.widen import RESNET_CA_W, channel_map, split_weights, widen, widen_weights

NARROW = EmotionNetConfig(name="narrow", widths=(4, 8, 8, 16))
WIDE = EmotionNetConfig(name="wide", widths=(6, 8, 16, 32))


def _trained_like(config: EmotionNetConfig) -> EmotionNet:
    """A network with non-trivial BatchNorm statistics and biases, as a trained one has."""
    torch.manual_seed(0)
    model = EmotionNet(config)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return model.eval()


def test_channel_map_keeps_old_channels_first_and_only_copies_existing_ones():
    mapping = channel_map(5, 12, torch.Generator().manual_seed(1))
    assert mapping[:5].tolist() == [0, 1, 2, 3, 4]
    assert mapping.shape == (12,) and int(mapping.max()) < 5
    with pytest.raises(ValueError, match="narrow"):
        channel_map(5, 4, torch.Generator())


def test_split_weights_sum_to_one_over_the_copies_of_each_old_channel():
    mapping = torch.tensor([0, 1, 2, 0, 0, 2])
    factors = split_weights(mapping, 3, torch.Generator().manual_seed(0))
    sums = torch.zeros(3, 3).index_add_(1, mapping, factors)
    assert torch.allclose(sums, torch.ones(3, 3))
    assert factors[:, 1].eq(1).all()  # a channel with no copy keeps its whole weight
    assert not torch.allclose(factors[:, 0], factors[:, 3])  # copies are split unevenly


def test_widened_network_computes_the_same_outputs():
    narrow = _trained_like(NARROW)
    wide = widen(narrow, WIDE, seed=3).eval()
    faces = torch.rand(5, 1, 48, 48)
    with torch.no_grad():
        before, after = narrow(faces), wide(faces)
    assert [p.shape[0] for p in (wide.backbone.stem[0].weight, wide.expression.weight)] == [6, 7]
    assert wide.expression.in_features == 32
    torch.testing.assert_close(after.logits, before.logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(after.valence_arousal, before.valence_arousal, atol=1e-4, rtol=1e-4)


def test_copies_get_different_gradients_so_training_can_separate_them():
    wide = widen(_trained_like(NARROW), WIDE, seed=3).train()
    norm = wide.backbone.stages[3][1].conv2[1]  # level 4: BatchNorm of channels 16..31, copies of 0..15
    copies = [(j, int((norm.weight[:16] == norm.weight[j]).nonzero()[0])) for j in range(16, 32)]
    wide(torch.rand(4, 1, 48, 48)).logits.sum().backward()
    assert all(not torch.isclose(norm.weight.grad[j], norm.weight.grad[k]) for j, k in copies)


def test_widening_refuses_a_different_design():
    with pytest.raises(ValueError, match="blocks"):
        widen(_trained_like(NARROW), EmotionNetConfig(name="deeper", widths=(6, 8, 16, 32), blocks=(2, 2, 2, 3)))


def test_narrower_weights_widen_into_the_wide_config(tmp_path) -> None:
    narrow = tmp_path / "narrow.pt"
    save_weights(create_model("resnet_ca_s"), narrow)
    wide = widen_weights(narrow, RESNET_CA_W)
    saved = torch.load(narrow, weights_only=True)
    assert (tuple(saved["config"]["widths"]), wide.config.widths) == ((32, 64, 128, 256), (32, 64, 256, 512))
    save_weights(wide, tmp_path / "wide.pt")
    saved = torch.load(tmp_path / "wide.pt", weights_only=True)
    assert saved["config"]["name"] == "resnet_ca_w"
    assert "resnet_ca_w" not in architectures()  # an experiment: the product's registry does not name it

    other = tmp_path / "other.pt"
    save_weights(EmotionNet(EmotionNetConfig(name="shallow", blocks=(1, 1, 1, 1))), other)
    with pytest.raises(ValueError, match="'shallow', which cannot become 'resnet_ca_w'"):
        widen_weights(other, RESNET_CA_W)
