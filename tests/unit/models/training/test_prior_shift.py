"""Label-shift correction: the folded bias turns target-prior posteriors into label-prior posteriors."""

import pytest
import torch

from models.registry import create_model
from models.training.prior_shift import folded_bias, label_shift_bias, manifest_record, shifted, unshift


def test_bias_is_log_ratio_of_the_two_priors() -> None:
    labels = torch.tensor([0, 0, 0, 1])
    targets = torch.tensor([[0.5, 0.5], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    # label prior (0.75, 0.25); target prior (0.5, 0.5)
    expected = torch.log(torch.tensor([0.75, 0.25])) - torch.log(torch.tensor([0.5, 0.5]))
    assert torch.allclose(label_shift_bias(targets, labels), expected)


def test_matching_priors_give_no_offset() -> None:
    labels = torch.tensor([0, 1, 2, 2])
    targets = torch.nn.functional.one_hot(labels, 3).float()
    assert torch.allclose(label_shift_bias(targets, labels), torch.zeros(3))


def test_a_class_without_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="every class"):
        label_shift_bias(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))


def test_shifted_reweights_posteriors_by_prior_ratio_and_restores_the_head() -> None:
    torch.manual_seed(0)
    model = create_model("resnet_ca_s").eval()
    faces = torch.rand(3, 1, 48, 48)
    bias = torch.linspace(-0.5, 0.5, 7)
    before = model.expression.bias.detach().clone()
    with torch.inference_mode():
        plain = model(faces).logits.softmax(1)
        with shifted(model.expression, bias):
            corrected = model(faces).logits.softmax(1)
    reweighted = plain * bias.exp()
    assert torch.allclose(corrected, reweighted / reweighted.sum(1, keepdim=True), atol=1e-6)
    assert torch.equal(model.expression.bias.detach(), before)
    assert torch.allclose(unshift(corrected, bias), plain, atol=1e-6)


def test_folded_bias_reads_back_what_the_manifest_records() -> None:
    assert folded_bias({"prior_shift": manifest_record(None)}) is None
    assert folded_bias({}) is None
    offset = folded_bias({"prior_shift": manifest_record(torch.tensor([0.5, -0.25]))})
    assert offset is not None and torch.equal(offset, torch.tensor([0.5, -0.25]))
