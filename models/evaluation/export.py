"""ONNX export of the trained networks, with a parity check against PyTorch.

An ONNX file lets the model be deployed on ONNX Runtime or TensorRT without this Python package or
PyTorch. The graph is only worth shipping if it computes what the PyTorch model computes, so every export
is checked here (``--check``, on by default) and ``tests/unit/models/evaluation/test_export.py`` guards the
parity of the real trained weights. Both networks export, picked by the kind recorded in the weights file:

    python -m models export --weights weights/emotion.pt --out runs/export/emotion.onnx
    python -m models export --weights weights/temporal.pt --out runs/export/temporal.onnx

The per-face network maps faces (batch, 1, 48, 48) to logits, valence/arousal and the embedding. The
temporal head is exported as the live path calls it (``TemporalEmotionHead.newest``): a batch of track
windows of cached D′4 maps (batch, S, C, 3, 3) -> the newest step's probabilities, valence/arousal and
confidence; S is fixed to the trained window because the live path always pads to it. The exporter is
``torch.onnx.export(dynamo=True)`` (needs ``onnxscript``): the TorchScript exporter is deprecated for removal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from models.nets.saliency_decoder import FaceSaliencyNet
from models.nets.temporal_head import TemporalEmotionHead
from models.weights import WeightsError, load_model, read_manifest

FACE_INPUTS = ("faces",)
FACE_OUTPUTS = ("logits", "valence_arousal", "embedding")
BATCH_AXES = {"faces": {0: "batch"}}
TRACK_INPUTS = ("features",)
TRACK_OUTPUTS = ("probabilities", "valence_arousal", "confidence")
TRACK_AXES = {"features": {0: "batch"}}
LEVEL_INPUTS = ("level1", "level2", "level3", "level4")  # the backbone's D′1..D′4, one face per row
MASK_OUTPUTS = ("mask1", "mask2", "mask3", "mask4")  # the decoder's mask logits at strides 2, 4, 8, 16
LEVEL_AXES = {name: {0: "batch"} for name in LEVEL_INPUTS}
# fp32 PyTorch vs ONNX Runtime differ only by summation order and BatchNorm folded into the convolutions:
# about 1e-6 on these outputs (logits within ±3, embedding within ±1). 1e-4 leaves 100× headroom for other
# CPUs and kernels yet is far below what a real export bug does (dropout or BatchNorm left in training mode,
# a wrong normalisation constant: 1e-2 and more).
TOLERANCE = 1e-4
DEMO_CLIP = Path(__file__).resolve().parents[2] / "service" / "data" / "demo_face.mp4"


def export_onnx(
    model: nn.Module,
    path: Path,
    example_inputs: tuple[torch.Tensor, ...],
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
) -> Path:
    """Writes ``model`` (in eval mode) to one self-contained ONNX file at ``path`` and returns ``path``.

    ``dynamic_axes`` maps an input name to {axis: dimension name}; an input axis left out is fixed to its
    size in ``example_inputs``. Inputs sharing a dimension name share its size; outputs follow the inputs.
    """
    if model.training:
        raise ValueError("export needs the model in eval mode (dropout and BatchNorm differ in training)")
    if len(input_names) != len(example_inputs):
        raise ValueError(f"{len(example_inputs)} example inputs but {len(input_names)} input names")
    axes = dynamic_axes or {}
    dims = {label: torch.export.Dim(label) for spec in axes.values() for label in spec.values()}
    dynamic_shapes = tuple(
        {axis: dims[label] for axis, label in axes.get(name, {}).items()} or None for name in input_names
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        example_inputs,
        path,
        dynamo=True,
        external_data=False,
        verbose=False,
        input_names=list(input_names),
        output_names=list(output_names),
        dynamic_shapes=dynamic_shapes,
    )
    return path


def paired_outputs(
    model: nn.Module, path: Path, inputs: Sequence[torch.Tensor]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Runs the model and the ONNX file (ONNX Runtime, CPU) on ``inputs``; output name -> (torch, onnx)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {arg.name: tensor.numpy() for arg, tensor in zip(session.get_inputs(), inputs, strict=True)}
    names = [out.name for out in session.get_outputs()]
    onnx_outputs = session.run(names, feeds)
    with torch.no_grad():
        outputs = model(*inputs)
    torch_outputs = [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)
    return {name: (ours.numpy(), theirs) for name, ours, theirs in zip(names, torch_outputs, onnx_outputs, strict=True)}


def max_abs_differences(pairs: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Output name -> max absolute difference of a ``paired_outputs`` result."""
    return {name: float(np.abs(ours - theirs).max()) for name, (ours, theirs) in pairs.items()}


def onnx_parity(model: nn.Module, path: Path, inputs: Sequence[torch.Tensor]) -> dict[str, float]:
    """Max absolute difference between PyTorch and ONNX Runtime on ``inputs``, per output name."""
    return max_abs_differences(paired_outputs(model, path, inputs))


class NewestStep(nn.Module):
    """The temporal head as the live path calls it: track windows -> their newest step's outputs."""

    def __init__(self, head: TemporalEmotionHead) -> None:
        super().__init__()
        self.head = head
        self.train(head.training)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.head.newest(features)


def _manifest_name(weights: Path) -> str:
    if not weights.is_file():
        raise WeightsError(f"weights file {weights} is missing")
    models = read_manifest(weights.parent).get("models", {})
    names = [name for name, entry in models.items() if entry.get("file") == weights.name]
    if not names:
        raise WeightsError(f"weights file {weights} is not listed in {weights.parent / 'manifest.json'}")
    return names[0]


def load_weights_entry(weights: Path) -> tuple[nn.Module, dict]:
    """The network stored in ``weights`` (either kind) and its manifest entry (sha256 checked)."""
    return load_model(weights.parent, _manifest_name(weights), kind=None)


def load_weights_file(weights: Path) -> nn.Module:
    """Loads the network stored in ``weights`` (either kind) through its manifest entry (sha256 checked)."""
    return load_weights_entry(weights)[0]


def track_windows(backbone: nn.Module, clip: Path, window: int) -> torch.Tensor:
    """(2, window, C, 3, 3) real D′4 maps: a clip's faces through the backbone, forwards and backwards."""
    faces = clip_faces(clip, window, backbone.config.input_size).repeat(1, backbone.config.in_channels, 1, 1)
    with torch.no_grad():
        maps = backbone.forward_features(faces)[-1]
    return torch.stack([maps, maps.flip(0)])


def clip_faces(clip: Path, count: int, size: int = 48) -> torch.Tensor:
    """(count, 1, size, size) grey centre crops in [0, 1] of evenly spaced frames of a face close-up clip.

    Real-ish inputs: natural face images (not MTCNN-aligned crops), so the check covers more than noise.
    """
    capture = cv2.VideoCapture(str(clip))
    frames = []
    ok, frame = capture.read()
    while ok:
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        ok, frame = capture.read()
    capture.release()
    if len(frames) < count:
        raise ValueError(f"{clip} gave {len(frames)} frames, {count} needed")
    crops = []
    for index in np.linspace(0, len(frames) - 1, count).round().astype(int):
        grey = frames[index]
        side = int(min(grey.shape) * 0.55)
        top, left = (grey.shape[0] - side) // 2, (grey.shape[1] - side) // 2
        crops.append(cv2.resize(grey[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA))
    return torch.from_numpy(np.stack(crops)).float().div_(255.0).unsqueeze(1)


def export_with_checks(weights: Path, out: Path, clip: Path) -> tuple[nn.Module, dict[str, tuple[torch.Tensor]]]:
    """Exports the network in ``weights`` to ``out``; returns the exported module and named check inputs.

    The temporal head's "clip" check feeds it real D′4 maps from the backbone its manifest entry names.
    """
    model, entry = load_weights_entry(weights)
    generator = torch.Generator().manual_seed(0)
    if isinstance(model, TemporalEmotionHead):
        module = NewestStep(model)
        window, channels = model.config.window, model.config.channels
        backbone, _ = load_model(weights.parent, entry["backbone"])
        example = (torch.rand(2, window, channels, 3, 3),)
        export_onnx(module, out, example, TRACK_INPUTS, TRACK_OUTPUTS, TRACK_AXES)
        # D′4 follows a ReLU: non-negative, a few units large.
        random = torch.rand(8, window, channels, 3, 3, generator=generator) * 2
        return module, {"random": (random,), "clip": (track_windows(backbone, clip, window),)}
    if isinstance(model, FaceSaliencyNet):
        backbone, _ = load_model(weights.parent, entry["backbone"])
        channels, size = backbone.config.in_channels, backbone.config.input_size
        with torch.no_grad():
            example = tuple(backbone.forward_features(torch.rand(2, channels, size, size)))
            random = tuple(backbone.forward_features(torch.rand(16, channels, size, size, generator=generator)))
            real = tuple(backbone.forward_features(clip_faces(clip, 16, size).repeat(1, channels, 1, 1)))
        export_onnx(model, out, example, LEVEL_INPUTS, MASK_OUTPUTS, LEVEL_AXES)
        return model, {"random": random, "clip": real}
    channels, size = model.config.in_channels, model.config.input_size
    export_onnx(model, out, (torch.rand(2, channels, size, size),), FACE_INPUTS, FACE_OUTPUTS, BATCH_AXES)
    random = torch.rand(16, channels, size, size, generator=generator)
    return model, {"random": (random,), "clip": (clip_faces(clip, 16, size).repeat(1, channels, 1, 1),)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m models export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", type=Path, default=Path("weights/emotion.pt"), help="listed in its manifest")
    parser.add_argument("--out", type=Path, default=Path("runs/export/emotion.onnx"))
    parser.add_argument(
        "--check", action=argparse.BooleanOptionalAction, default=True, help="compare with PyTorch (default on)"
    )
    parser.add_argument("--clip", type=Path, default=DEMO_CLIP, help="face close-up video for the real-ish check")
    args = parser.parse_args(argv)
    try:
        module, batches = export_with_checks(args.weights, args.out, args.clip)
    except WeightsError as exc:
        sys.exit(f"error: {exc}")
    opset = next(op.version for op in onnx.load(args.out).opset_import if op.domain == "")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, opset {opset}, dynamic batch)")
    if not args.check:
        return
    worst = 0.0
    for label, inputs in batches.items():
        pairs = paired_outputs(module, args.out, inputs)
        diffs = max_abs_differences(pairs)
        scores = next(iter(pairs.values()))
        agree = (
            f"; argmax agrees on {int((scores[0].argmax(1) == scores[1].argmax(1)).sum())}/{len(inputs[0])}"
            if scores[0].ndim == 2
            else ""
        )
        print(
            f"{label:>6} inputs (n={len(inputs[0])}): max abs diff "
            + ", ".join(f"{name} {diff:.1e}" for name, diff in diffs.items())
            + agree
        )
        worst = max(worst, *diffs.values())
    if worst > TOLERANCE:
        sys.exit(f"error: ONNX output differs from PyTorch by {worst:.1e} > tolerance {TOLERANCE:.0e}")
    print(f"parity ok: every output within {TOLERANCE:.0e}")
