"""Multi-task loss (Eq. 9–11 + recognition terms) balanced by learnable log-variances."""

import pytest
import torch
import torch.nn.functional as F

from models.training.multitask_loss import TASKS, MultiTaskLoss, downsample_mask, multiscale_bce

ALPHA = (0.4, 0.3, 0.2, 0.1)
SIZES = (8, 4, 2, 1)


def _bce_by_hand(logit, target):
    p = torch.sigmoid(logit)
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()


def _pool_by_hand(target, size):
    n, _, h, w = target.shape
    f = h // size
    return target.reshape(n, 1, size, f, size, f).mean(dim=(3, 5))


def _example(seed=0):
    g = torch.Generator().manual_seed(seed)
    video_masks = [torch.randn(3, 1, s, s, generator=g) for s in SIZES]
    image_masks = [torch.randn(2, 1, s, s, generator=g) for s in SIZES]
    video_target = (torch.rand(3, 1, 8, 8, generator=g) > 0.5).float()
    image_target = (torch.rand(2, 1, 8, 8, generator=g) > 0.5).float()
    logits = torch.randn(2, 7, generator=g)
    soft = torch.softmax(torch.randn(2, 7, generator=g), dim=1)
    va = torch.tanh(torch.randn(2, 2, generator=g))
    va_target = torch.rand(2, 2, generator=g) * 2 - 1
    return dict(
        video_masks=video_masks,
        video_target=video_target,
        image_masks=image_masks,
        image_target=image_target,
        expression_logits=logits,
        expression_target=soft,
        valence_arousal=va,
        valence_arousal_target=va_target,
    )


def _parts_by_hand(x):
    sal_v = sum(
        a * _bce_by_hand(m, _pool_by_hand(x["video_target"], s))
        for a, m, s in zip(ALPHA, x["video_masks"], SIZES, strict=True)
    )
    sal_i = sum(
        a * _bce_by_hand(m, _pool_by_hand(x["image_target"], s))
        for a, m, s in zip(ALPHA, x["image_masks"], SIZES, strict=True)
    )
    ce = -(x["expression_target"] * torch.log_softmax(x["expression_logits"], dim=1)).sum(dim=1).mean()
    mse = ((x["valence_arousal"] - x["valence_arousal_target"]) ** 2).mean()
    return {"saliency_video": sal_v, "saliency_image": sal_i, "expression": ce, "valence_arousal": mse}


def test_with_zero_log_variances_total_is_the_plain_sum_by_hand():
    x = _example()
    out = MultiTaskLoss(ALPHA)(**x)
    by_hand = _parts_by_hand(x)
    for task in TASKS:
        torch.testing.assert_close(out.parts[task], by_hand[task])
        torch.testing.assert_close(out.weights[task], torch.tensor(1.0))
    torch.testing.assert_close(out.total, sum(by_hand.values()))


def test_uncertainty_weighting_and_gradients_reach_log_variances():
    x = _example(1)
    loss = MultiTaskLoss(ALPHA)
    with torch.no_grad():
        loss.log_vars.copy_(torch.tensor([0.5, -0.25, 1.0, -1.0]))
    out = loss(**x)
    s = dict(zip(TASKS, loss.log_vars.detach(), strict=True))
    by_hand = _parts_by_hand(x)
    torch.testing.assert_close(out.total, sum(by_hand[t] * torch.exp(-s[t]) + s[t] for t in TASKS))
    torch.testing.assert_close(loss.beta(), torch.exp(s["saliency_video"] - s["saliency_image"]))
    out.total.backward()
    expected_grad = torch.stack([1 - by_hand[t].detach() * torch.exp(-s[t]) for t in TASKS])  # d/ds (L e^-s + s)
    torch.testing.assert_close(loss.log_vars.grad, expected_grad)


def test_bce_part_equals_torch_bce_with_logits_weighted_sum():
    x = _example(2)
    expected = sum(
        a * F.binary_cross_entropy_with_logits(m, F.adaptive_avg_pool2d(x["video_target"], s))
        for a, m, s in zip(ALPHA, x["video_masks"], SIZES, strict=True)
    )
    torch.testing.assert_close(multiscale_bce(x["video_masks"], x["video_target"], ALPHA), expected)


def test_targets_are_area_downsampled_to_each_mask_scale():
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, :2, :2] = 1.0  # top-left block full face
    target[0, 0, 3, 3] = 1.0  # one face pixel of the bottom-right block
    torch.testing.assert_close(downsample_mask(target, (2, 2)), torch.tensor([[[[1.0, 0.0], [0.0, 0.25]]]]))
    torch.testing.assert_close(downsample_mask(target[:, 0], (1, 1)), torch.full((1, 1, 1, 1), 5 / 16))
    face = (torch.rand(2, 1, 48, 48) > 0.5).float()
    for size in (24, 12, 6, 3):
        torch.testing.assert_close(downsample_mask(face, (size, size)), _pool_by_hand(face, size))


def test_missing_terms_are_left_out_with_their_log_variance_and_hard_labels_work():
    loss = MultiTaskLoss()
    labels = torch.tensor([3, 0])
    logits = torch.randn(2, 7)
    out = loss(expression_logits=logits, expression_target=labels)
    assert set(out.parts) == {"expression"}
    torch.testing.assert_close(out.total, F.cross_entropy(logits, labels))
    with pytest.raises(ValueError):
        loss(expression_logits=logits)
