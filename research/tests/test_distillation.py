"""Distillation: teacher probabilities (ensemble, mirror views, temperature) and their share of the targets."""

import pytest
import torch

from models.data.fer import load_split, soft_targets
from models.weights import WeightsError, save_weights, sha256_of, write_manifest_entry
from research.distillation import blend_with_teacher, distilled_targets, load_teachers, teacher_probs


def test_teacher_probs_are_softened_mirror_averaged_ensemble_means(nets, faces) -> None:
    with torch.inference_mode():
        expected = torch.stack(
            [(n(faces).logits.div(3.0).softmax(1) + n(faces.flip(-1)).logits.div(3.0).softmax(1)) / 2 for n in nets]
        ).mean(0)
    got = teacher_probs(nets, faces, temperature=3.0)
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.allclose(got.sum(1), torch.ones(5), atol=1e-5)


def test_higher_temperature_flattens_the_answer(nets, faces) -> None:
    def entropy(p: torch.Tensor) -> torch.Tensor:
        return -(p * p.clamp_min(1e-12).log()).sum(1)

    cool, warm = teacher_probs(nets, faces, 1.0), teacher_probs(nets, faces, 4.0)
    assert (entropy(warm) > entropy(cool)).all()
    assert torch.allclose(teacher_probs(nets, faces, 1e6), torch.full((5, 7), 1 / 7), atol=1e-4)


def test_blend_keeps_distributions_and_checks_its_inputs() -> None:
    targets = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    teacher = torch.tensor([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    mixed = blend_with_teacher(targets, teacher, 0.25)
    assert torch.allclose(mixed, torch.tensor([[0.75, 0.125, 0.125], [0.4, 0.225, 0.375]]))
    assert torch.equal(blend_with_teacher(targets, teacher, 0.0), targets)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        blend_with_teacher(targets, teacher, 1.5)
    with pytest.raises(ValueError, match="shape"):
        blend_with_teacher(targets, teacher[:1], 0.5)


def test_distilled_targets_record_their_teachers(tmp_path, tiny_fer, nets) -> None:
    teachers = tmp_path / "teachers"
    sha = save_weights(nets[0], teachers / "t.pt")
    write_manifest_entry(teachers, "teacher_a", {"file": "t.pt", "sha256": sha})
    loaded = load_teachers(teachers, ["teacher_a"])
    split = load_split(tiny_fer, "Training")
    targets = soft_targets(split.labels, split.votes, vote_weight=0.4, smoothing=0.05)
    mixed, record = distilled_targets(targets, split.images, loaded, ["teacher_a"], weight=0.3, temperature=2.0)
    assert record["teachers"] == [{"model": "teacher_a", "sha256": sha}]
    assert "0.3*teachers' mean flip-averaged softmax(logits/2.0)" in record["targets"]
    assert loaded[0][1]["sha256"] == sha256_of(teachers / "t.pt")
    expected = blend_with_teacher(targets, teacher_probs([nets[0]], split.images, 2.0), 0.3)
    assert torch.allclose(mixed, expected, atol=1e-6)
    assert torch.allclose(mixed.sum(1), torch.ones(len(targets)), atol=1e-5)
    with pytest.raises(WeightsError, match="teacher: model 'nobody' is not in"):
        load_teachers(teachers, ["nobody"])
