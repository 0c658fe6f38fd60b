"""Saliency decoder (Eq. 8): four mask scales, and the top-down sum wiring of Eq. 8."""

import pytest
import torch
import torch.nn.functional as F

from models.nets.backbone import AttentiveResNet
from models.nets.saliency_decoder import SaliencyDecoder, fusion_sources


def _up(x, like):
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def _levels(widths, sizes=(24, 12, 6, 3), batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, w, s, s, generator=generator) for w, s in zip(widths, sizes, strict=True)]


def test_shapes_at_four_scales_for_a_48x48_face():
    torch.manual_seed(0)
    with torch.no_grad():
        levels = AttentiveResNet().eval()(torch.rand(1, 1, 48, 48))
        out = SaliencyDecoder().eval()(levels)
    assert [tuple(g.shape) for g in out.features] == [
        (1, 32, 24, 24),
        (1, 64, 12, 12),
        (1, 128, 6, 6),
        (1, 256, 3, 3),
    ]
    assert [tuple(m.shape) for m in out.logits] == [(1, 1, 24, 24), (1, 1, 12, 12), (1, 1, 6, 6), (1, 1, 3, 3)]


def test_dense_fusion_is_the_sum_of_eq_8_with_identity_res():
    d1, d2, d3, d4 = _levels((4, 4, 4, 4))
    g1, g2, g3, g4 = SaliencyDecoder((4, 4, 4, 4), identity_res=True)([d1, d2, d3, d4]).features
    torch.testing.assert_close(g4, d4)
    torch.testing.assert_close(g3, d3 + _up(g4, d3))
    torch.testing.assert_close(g2, d2 + _up(g3, d2) + _up(g4, d2))
    torch.testing.assert_close(g1, d1 + _up(g2, d1) + _up(g3, d1) + _up(g4, d1))


def test_paper_fusion_is_eq_8_as_printed():
    d1, d2, d3, d4 = _levels((4, 4, 4, 4))
    g1, g2, g3, g4 = SaliencyDecoder((4, 4, 4, 4), fusion="paper", identity_res=True)([d1, d2, d3, d4]).features
    torch.testing.assert_close(g3, d3 + _up(g4, d3))
    torch.testing.assert_close(g2, d2 + _up(g3, d2) + _up(g4, d2))
    torch.testing.assert_close(g1, d1 + _up(g2, d1) + _up(g4, d1))  # printed Eq. 8 skips G3 here
    assert fusion_sources(4, "paper") == {0: [1, 3], 1: [2, 3], 2: [3], 3: []}
    assert fusion_sources(4, "dense") == {0: [1, 2, 3], 1: [2, 3], 2: [3], 3: []}


@pytest.mark.parametrize(
    ("fusion", "only", "expected"),
    [
        # one all-ones level, the rest zero: count the paths from that level to each G_k
        ("dense", 3, [4.0, 2.0, 1.0, 1.0]),  # G4=1, G3=1, G2=1+1, G1=2+1+1
        ("dense", 2, [2.0, 1.0, 1.0, 0.0]),
        ("dense", 0, [1.0, 0.0, 0.0, 0.0]),
        ("paper", 3, [3.0, 2.0, 1.0, 1.0]),  # G1 = Up(G2) + Up(G4) = 2 + 1
        ("paper", 2, [1.0, 1.0, 1.0, 0.0]),
    ],
)
def test_one_level_propagates_by_path_counts(fusion, only, expected):
    levels = [torch.zeros(1, 4, s, s) for s in (8, 4, 2, 1)]
    levels[only] = torch.ones_like(levels[only])
    features = SaliencyDecoder((4, 4, 4, 4), fusion=fusion, identity_res=True)(levels).features
    for g, value in zip(features, expected, strict=True):
        torch.testing.assert_close(g, torch.full_like(g, value))


def test_decoder_with_projections_is_affine_in_the_levels():
    # identity RES but real 1×1 projections between widths: the decoder is affine, so the contributions of
    # the four levels add up (superposition) — the sum structure of Eq. 8 with mismatched widths.
    torch.manual_seed(0)
    decoder = SaliencyDecoder((3, 4, 5, 6), identity_res=True)
    levels = _levels((3, 4, 5, 6), sizes=(8, 4, 2, 1))
    zeros = [torch.zeros_like(x) for x in levels]
    base = decoder(zeros).features
    total = decoder(levels).features
    parts = [
        decoder([x if i == k else z for i, (x, z) in enumerate(zip(levels, zeros, strict=True))]).features
        for k in range(4)
    ]
    for level in range(4):
        summed = base[level] + sum(p[level] - base[level] for p in parts)
        torch.testing.assert_close(total[level], summed, atol=1e-5, rtol=1e-5)


def test_projecting_before_upsampling_equals_projecting_after():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 3, 1)
    x, like = torch.randn(2, 6, 3, 3), torch.zeros(1, 1, 6, 6)
    torch.testing.assert_close(_up(conv(x), like), conv(_up(x, like)))


def test_real_residual_units_are_wired_as_eq_8():
    torch.manual_seed(0)
    decoder = SaliencyDecoder((4, 6, 8, 10)).eval()
    d1, d2, d3, d4 = _levels((4, 6, 8, 10), sizes=(8, 4, 2, 1))
    g1, g2, g3, g4 = decoder([d1, d2, d3, d4]).features

    def res_up(m, k, g, like):
        key = f"{m}to{k}"
        return decoder.top_down[key](_up(decoder.project[key](g), like))

    with torch.no_grad():
        torch.testing.assert_close(g4, decoder.lateral[3](d4))
        torch.testing.assert_close(g3, decoder.lateral[2](d3) + res_up(3, 2, g4, d3))
        torch.testing.assert_close(g2, decoder.lateral[1](d2) + res_up(2, 1, g3, d2) + res_up(3, 1, g4, d2))
        expected_g1 = decoder.lateral[0](d1) + res_up(1, 0, g2, d1) + res_up(2, 0, g3, d1) + res_up(3, 0, g4, d1)
        torch.testing.assert_close(g1, expected_g1)


def test_rejects_wrong_widths_and_fusion():
    with pytest.raises(ValueError):
        SaliencyDecoder((4, 4, 4, 4))(_levels((4, 4, 4, 5), sizes=(8, 4, 2, 1)))
    with pytest.raises(ValueError):
        SaliencyDecoder(fusion="sparse")
