"""Held-out evaluation of a trained emotion model.

``python -m models evaluate --data ../shared/data/fer2013_trainval.npz`` prints accuracy, macro-F1,
per-class recall and the confusion matrix on the original FER2013 labels and, where FER+ votes are present,
on the FER+ majority labels. ``--model a b`` scores the average of several networks' probabilities (an
ensemble: what several independently trained networks agree on).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models.data.fer import load_split
from models.evaluation.metrics import summarize
from models.nets.emotion_net import EmotionNet
from models.weights import load_model


@torch.inference_mode()
def predict_probs(
    model: EmotionNet, images: torch.Tensor, batch_size: int = 512, flip_tta: bool = True, temperature: float = 1.0
) -> np.ndarray:
    """(N, 1, H, W) faces in [0, 1] -> (N, C) softmax(logits / T), averaged with the mirrored face when asked."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device)
        probs = model(batch).logits.float().div(temperature).softmax(dim=1)
        if flip_tta:
            probs = (probs + model(batch.flip(-1)).logits.float().div(temperature).softmax(dim=1)) / 2
        chunks.append(probs.cpu())
    return torch.cat(chunks).numpy()


def ensemble_probs(
    models: Sequence[EmotionNet], images: torch.Tensor, flip_tta: bool = True, temperature: float = 1.0
) -> np.ndarray:
    """The networks' ``predict_probs`` averaged: an ensemble's answer, one probability row per face."""
    if not models:
        raise ValueError("an ensemble needs at least one network")
    return np.mean([predict_probs(m, images, flip_tta=flip_tta, temperature=temperature) for m in models], axis=0)


def format_report(title: str, report: dict, classes: tuple[str, ...]) -> str:
    lines = [f"== {title}: n={report['count']} accuracy={report['accuracy']:.4f} macro_f1={report['macro_f1']:.4f}"]
    lines.append(
        "per-class recall: " + ", ".join(f"{c}={r:.3f}" for c, r in zip(classes, report["recall"], strict=True))
    )
    lines.append("confusion (rows true, cols predicted): " + " ".join(f"{c[:4]:>5}" for c in classes))
    for name, row in zip(classes, report["confusion"], strict=True):
        lines.append(f"  {name:>8} " + " ".join(f"{v:5d}" for v in row))
    return "\n".join(lines)


def evaluate(models: Sequence[EmotionNet], data: Path, usage: str, flip_tta: bool) -> dict:
    """Scores one network (or the average of several) on the ``usage`` rows of ``data``."""
    split = load_split(data, usage)
    preds = ensemble_probs(models, split.images, flip_tta=flip_tta).argmax(axis=1)
    classes = models[0].config.classes
    result = {"original": summarize(split.labels.numpy(), preds, len(classes))}
    usable = split.ferplus_majority.numpy() >= 0
    if usable.any():
        result["ferplus_majority"] = summarize(split.ferplus_majority.numpy()[usable], preds[usable], len(classes))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m models evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="npz with images, labels, usage (and ferplus_votes)")
    parser.add_argument("--usage", default="PublicTest", help="which rows to score (default PublicTest)")
    parser.add_argument("--weights-dir", type=Path, default=Path("weights"))
    parser.add_argument(
        "--model", nargs="+", default=["emotion"], help="model name(s) in the weights manifest; several are averaged"
    )
    parser.add_argument("--no-tta", action="store_true", help="score without mirrored-face averaging")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"no such data file: {args.data}")
    models = [load_model(args.weights_dir, name)[0] for name in args.model]
    classes = models[0].config.classes
    if any(m.config.classes != classes for m in models):
        parser.error(f"models {args.model} do not share one class list")
    result = evaluate(models, args.data, args.usage, flip_tta=not args.no_tta)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(format_report(f"{args.usage} original FER2013 labels", result["original"], classes))
    if "ferplus_majority" in result:
        print(format_report(f"{args.usage} FER+ majority labels", result["ferplus_majority"], classes))
