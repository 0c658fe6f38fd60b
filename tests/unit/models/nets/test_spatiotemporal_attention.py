"""Spatio-temporal attention (Eq. 3–7): TopJ keeps exactly J entries, masks are distributions."""

import math

import pytest
import torch
import torch.nn.functional as F

from models.nets.spatiotemporal_attention import SpatioTemporalAttention, temporal_pool

N, S, Z, H, W, V, J = 2, 3, 8, 3, 3, 4, 2


@pytest.fixture
def module():
    torch.manual_seed(0)
    return SpatioTemporalAttention(channels=Z, key_channels=V, top_j=J)


@pytest.fixture
def features():
    torch.manual_seed(1)
    return torch.randn(N, S, Z, H, W)


def test_topj_keeps_exactly_j_largest_entries_per_position_frame_row(module, features):
    maps = module.attention_maps(features)
    L, P = S * H * W, H * W
    assert maps.correlation.shape == (N, L, S, P)
    assert maps.top_values.shape == maps.top_indices.shape == (N, L, S, J)
    kept = torch.zeros(N, L, S, P, dtype=torch.bool).scatter(-1, maps.top_indices, True)
    assert (kept.sum(-1) == J).all()  # exactly J distinct positions kept in each row
    kept_min = maps.correlation.masked_fill(~kept, math.inf).amin(-1)
    dropped_max = maps.correlation.masked_fill(kept, -math.inf).amax(-1)
    assert (kept_min >= dropped_max).all()  # the kept ones are the largest
    torch.testing.assert_close(maps.top_values, maps.correlation.gather(-1, maps.top_indices))


def test_masks_match_an_independent_reading_of_eq_3_to_6(module, features):
    flat = features.reshape(N * S, Z, H, W)
    theta = module.key(flat).reshape(N, S, V, H * W)
    phi = module.value(flat).reshape(N, S, V, H * W)
    x = torch.einsum("navp,nbvq->napbq", theta, phi)  # frame a pos p against frame b pos q
    c1 = x.reshape(N, S * H * W, S, H * W)
    c_top = c1.sort(dim=-1, descending=True).values[..., :J]  # everything past J excluded
    c2 = c_top.mean(dim=2)
    expected = (c2.reshape(N, S, H * W, J) / math.sqrt(V)).softmax(dim=2).permute(0, 1, 3, 2)
    torch.testing.assert_close(module.attention_maps(features).masks, expected.reshape(N, S, J, H, W))


def test_masks_are_non_negative_and_sum_to_one_over_space(module, features):
    masks = module.attention_maps(features).masks
    assert masks.shape == (N, S, J, H, W)
    assert (masks >= 0).all()
    torch.testing.assert_close(masks.sum(dim=(-2, -1)), torch.ones(N, S, J))


def test_masks_of_a_frame_depend_on_the_other_frames(module, features):
    changed = features.clone()
    changed[:, 2] = torch.randn(N, Z, H, W)
    before = module.attention_maps(features).masks[:, 0]
    after = module.attention_maps(changed).masks[:, 0]
    assert not torch.allclose(before, after)


def test_output_is_eq_7_concatenation_of_j_convs(module, features):
    out, maps = module.attend(features)
    assert out.shape == (N, S, Z, H, W)
    weight, bias = module.project.weight, module.project.bias  # (Z, Z, 1, 1) grouped: Z/J outputs per mask
    parts = []
    for j in range(J):
        rows = slice(j * Z // J, (j + 1) * Z // J)
        masked = (maps.masks[:, :, j, None] * features * H * W).reshape(N * S, Z, H, W)
        parts.append(F.conv2d(masked, weight[rows], bias[rows]))
    torch.testing.assert_close(out, torch.cat(parts, dim=1).reshape(N, S, Z, H, W))
    assert temporal_pool(out).shape == (N, S, Z)
    torch.testing.assert_close(temporal_pool(out), out.mean(dim=(3, 4)))


def test_gradients_reach_input_and_every_weight(module, features):
    features.requires_grad_(True)
    module(features).square().mean().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_rejects_bad_configuration():
    with pytest.raises(ValueError):
        SpatioTemporalAttention(channels=8, top_j=3)
    with pytest.raises(ValueError):
        SpatioTemporalAttention(channels=8, key_channels=4, top_j=8)(torch.zeros(1, 2, 8, 2, 2))
    with pytest.raises(ValueError):
        SpatioTemporalAttention(channels=8)(torch.zeros(1, 8, 3, 3))
