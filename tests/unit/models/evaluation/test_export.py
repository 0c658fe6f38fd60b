"""ONNX export: the real trained networks (per face, temporal) match their PyTorch outputs on ONNX Runtime."""

import contextlib
import io
from pathlib import Path

import onnx
import pytest
import torch
from torch import nn

from models.evaluation.export import (
    BATCH_AXES,
    DEMO_CLIP,
    FACE_INPUTS,
    FACE_OUTPUTS,
    LEVEL_INPUTS,
    MASK_OUTPUTS,
    TOLERANCE,
    TRACK_INPUTS,
    TRACK_OUTPUTS,
    NewestStep,
    clip_faces,
    export_onnx,
    load_weights_file,
    main,
    onnx_parity,
    paired_outputs,
    track_windows,
)
from models.nets.temporal_head import TemporalEmotionHead
from models.registry import create_model
from models.weights import WeightsError

WEIGHTS = Path(__file__).resolve().parents[4] / "weights" / "emotion.pt"
TEMPORAL_WEIGHTS = WEIGHTS.with_name("temporal.pt")
SALIENCY_WEIGHTS = WEIGHTS.with_name("saliency.pt")


def _cli_export(tmp_path_factory: pytest.TempPathFactory, weights: Path) -> tuple[Path, str]:
    """The CLI's export of real weights (with its own parity check) and what it printed."""
    out = tmp_path_factory.mktemp("export") / weights.with_suffix(".onnx").name
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        main(["--weights", str(weights), "--out", str(out)])
    return out, report.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return _cli_export(tmp_path_factory, WEIGHTS)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    return load_weights_file(WEIGHTS)


def _checked_graph(path: Path, report: str, inputs, outputs) -> onnx.GraphProto:
    """A valid ONNX graph with exactly these input and output names, whose export reported parity."""
    graph = onnx.load(path).graph
    onnx.checker.check_model(path)
    assert [value.name for value in graph.input] == list(inputs)
    assert [value.name for value in graph.output] == list(outputs)
    assert "parity ok" in report
    return graph


def test_graph_has_named_io_and_a_dynamic_batch(exported: tuple[Path, str]):
    graph = _checked_graph(*exported, FACE_INPUTS, FACE_OUTPUTS)
    assert all(value.type.tensor_type.shape.dim[0].dim_param == "batch" for value in [*graph.input, *graph.output])


@pytest.mark.parametrize("source", ["random", "clip"])
@pytest.mark.parametrize("batch", [1, 5])
def test_onnx_runtime_matches_pytorch(exported: tuple[Path, str], model: nn.Module, batch: int, source: str):
    path, _ = exported
    generator = torch.Generator().manual_seed(batch)
    faces = torch.rand(batch, 1, 48, 48, generator=generator) if source == "random" else clip_faces(DEMO_CLIP, batch)
    diffs = onnx_parity(model, path, (faces,))
    assert set(diffs) == set(FACE_OUTPUTS)
    assert max(diffs.values()) <= TOLERANCE, diffs
    pairs = paired_outputs(model, path, (faces,))
    assert [pairs[name][1].shape for name in FACE_OUTPUTS] == [(batch, 7), (batch, 2), (batch, 256)]
    torch_logits, onnx_logits = pairs["logits"]
    assert (torch_logits.argmax(1) == onnx_logits.argmax(1)).all()


@pytest.fixture(scope="module")
def exported_temporal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return _cli_export(tmp_path_factory, TEMPORAL_WEIGHTS)


def test_temporal_graph_takes_fixed_windows_with_a_dynamic_batch(exported_temporal: tuple[Path, str]):
    graph = _checked_graph(*exported_temporal, TRACK_INPUTS, TRACK_OUTPUTS)
    dims = [dim.dim_param or dim.dim_value for dim in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 16, 256, 3, 3]


@pytest.mark.parametrize("batch", [1, 3])
def test_temporal_onnx_matches_the_live_newest_step(exported_temporal: tuple[Path, str], model: nn.Module, batch: int):
    """Real D′4 windows of the demo clip through the real backbone, as the live path feeds the head."""
    path, _ = exported_temporal
    head = load_weights_file(TEMPORAL_WEIGHTS)
    assert isinstance(head, TemporalEmotionHead)
    windows = track_windows(model, DEMO_CLIP, head.config.window)
    windows = torch.cat([windows, windows[:1].roll(5, dims=1)])[:batch]
    pairs = paired_outputs(NewestStep(head), path, (windows,))
    assert max(float(abs(ours - theirs).max()) for ours, theirs in pairs.values()) <= TOLERANCE
    probabilities = pairs["probabilities"][1]
    assert probabilities.shape == (batch, 7)
    assert abs(probabilities.sum(1) - 1).max() < 1e-5
    expected, _, _ = head.newest(windows)
    assert (expected.argmax(1).numpy() == probabilities.argmax(1)).all()


def test_newest_step_keeps_the_heads_mode():
    head = load_weights_file(TEMPORAL_WEIGHTS)
    assert not NewestStep(head).training
    with pytest.raises(ValueError, match="eval mode"):
        export_onnx(
            NewestStep(head.train()), Path("unused.onnx"), (torch.rand(1, 16, 256, 3, 3),), TRACK_INPUTS, TRACK_OUTPUTS
        )


# torch warns that each shared axis name "will not be used" yet writes it (checked in the graph below).
@pytest.mark.filterwarnings("ignore:# The axis name")
def test_export_is_generic_over_inputs_and_dynamic_axes(tmp_path: Path):
    """A temporal-style module: two inputs sharing batch and time axes, one plain tensor output."""

    class MaskedMean(nn.Module):
        def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return (features * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)

    axes = {"features": {0: "batch", 1: "time"}, "mask": {0: "batch", 1: "time"}}
    example = (torch.rand(2, 3, 4), torch.ones(2, 3))
    path = export_onnx(MaskedMean().eval(), tmp_path / "mean.onnx", example, ["features", "mask"], ["pooled"], axes)
    inputs = (torch.rand(5, 7, 4), (torch.rand(5, 7) > 0.3).float())
    assert onnx_parity(MaskedMean(), path, inputs)["pooled"] <= TOLERANCE
    graph = onnx.load(path).graph
    shapes = [[dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim] for value in graph.input]
    assert shapes == [["batch", "time", 4], ["batch", "time"]]


def test_export_refuses_a_model_in_training_mode(tmp_path: Path):
    net = create_model("resnet_ca_s").train()
    with pytest.raises(ValueError, match="eval mode"):
        export_onnx(net, tmp_path / "x.onnx", (torch.rand(2, 1, 48, 48),), FACE_INPUTS, FACE_OUTPUTS, BATCH_AXES)


def test_missing_or_unlisted_weights_raise_weights_error(tmp_path: Path):
    with pytest.raises(WeightsError, match="missing"):
        load_weights_file(tmp_path / "emotion.pt")
    (tmp_path / "emotion.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="no weights manifest"):
        load_weights_file(tmp_path / "emotion.pt")
    (tmp_path / "manifest.json").write_text('{"models": {}}')
    with pytest.raises(WeightsError, match="not listed"):
        load_weights_file(tmp_path / "emotion.pt")


def test_cli_exits_with_a_clear_message_on_missing_weights(tmp_path: Path):
    with pytest.raises(SystemExit) as exit_info:
        main(["--weights", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "x.onnx")])
    assert exit_info.value.code == f"error: weights file {tmp_path / 'nope.pt'} is missing"
    assert not (tmp_path / "x.onnx").exists()


@pytest.fixture(scope="module")
def exported_saliency(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return _cli_export(tmp_path_factory, SALIENCY_WEIGHTS)


@pytest.mark.parametrize("batch", [1, 4])
def test_saliency_decoder_onnx_matches_pytorch_on_real_backbone_levels(
    exported_saliency: tuple[Path, str], model: nn.Module, batch: int
):
    path, report = exported_saliency
    graph = _checked_graph(path, report, LEVEL_INPUTS, MASK_OUTPUTS)
    assert all(value.type.tensor_type.shape.dim[0].dim_param == "batch" for value in graph.input)
    decoder = load_weights_file(SALIENCY_WEIGHTS)
    with torch.no_grad():
        levels = tuple(model.forward_features(clip_faces(DEMO_CLIP, batch)))
    pairs = paired_outputs(decoder, path, levels)
    assert max(float(abs(ours - theirs).max()) for ours, theirs in pairs.values()) <= TOLERANCE
    assert [pairs[name][1].shape for name in MASK_OUTPUTS] == [(batch, 1, 24 // 2**k, 24 // 2**k) for k in range(3)] + [
        (batch, 1, 3, 3)
    ]
