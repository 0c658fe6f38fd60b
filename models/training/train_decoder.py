"""Fit the saliency decoder on the frozen shipped backbone so that it shows the visible face, then calibrate
the occlusion score it gives.

Training faces (FER2013 Training rows) get a synthetic occluder (``models.data.occluders``: hand, bar,
microphone, scarf, another face) with probability ``--occluded-share``; the target at every scale is the face
region expected from the template (``models.face_regions.expected_face_mask``) times (1 − the occluder's
alpha), and the loss the decoder's multi-scale BCE (Eq. 11's form). The backbone is frozen (its emotion
accuracy is what it shipped with): only the decoder learns. Calibration: the PublicTest faces, each twice,
once clean and once with an occluder of each kind in turn (a different seed from training); a face counts as
occluded when the occluder hides at least ``--occluded-fraction`` of the expected region; ROC-AUC of the
score, and the threshold that maximises TPR − FPR. Writes ``saliency.pt`` and its manifest entry (metrics,
threshold, data, command) into ``--export-dir``; ``python -m models publish`` installs it.

    python -m models train-decoder --data ../shared/data/fer2013_trainval.npz --export-dir runs/decoder-export
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from models.data.occluders import KINDS, occlude
from models.face_regions import expected_face_mask, occluded_fraction, occlusion_score
from models.nets.saliency_decoder import FaceSaliencyNet, SaliencyDecoderConfig
from models.training.multitask_loss import multiscale_bce
from models.weights import load_model, save_weights, write_manifest_entry

SCORE_SCALES = 2  # the occlusion score averages the two finest mask scales (24 and 12 px for a 48 px crop)


def occluded_batch(
    images: np.ndarray, rng: np.random.Generator, others: np.ndarray, share: float, kinds: list[str | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Crops with occluders on about ``share`` of them (``kinds[i]``: the kind for crop i, None: random) and
    each crop's covered alpha (zeros where clean)."""
    out, alphas = images.copy(), np.zeros(images.shape, np.float32)
    for i, image in enumerate(images):
        if rng.random() < share:
            out[i], alphas[i] = occlude(image, rng, others, kinds[i])
    return out, alphas


def scores(backbone, decoder, images: np.ndarray, batch: int = 256) -> np.ndarray:
    expected = expected_face_mask(images.shape[-1])
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = torch.from_numpy(images[start : start + batch]).float().div_(255).unsqueeze(1)
            masks = [m.sigmoid().squeeze(1).numpy() for m in decoder(*backbone.forward_features(x))[:SCORE_SCALES]]
            out.extend(occlusion_score([m[i] for m in masks], expected) for i in range(len(x)))
    return np.array(out)


def roc_auc(labels: np.ndarray, values: np.ndarray) -> float:
    """Probability that a positive scores above a negative (ties count half): the area under the ROC curve."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):  # average ranks of ties
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    positives = labels.sum()
    negatives = len(labels) - positives
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def best_threshold(labels: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """The threshold maximising TPR − FPR (Youden's J), with its TPR and FPR."""
    best = (0.5, 0.0, 0.0, -1.0)
    for threshold in np.unique(np.round(values, 3)):
        flagged = values >= threshold
        tpr, fpr = flagged[labels].mean(), flagged[~labels].mean()
        if tpr - fpr > best[3]:
            best = (float(threshold), float(tpr), float(fpr), float(tpr - fpr))
    return best[0], best[1], best[2]


def calibrate(backbone, decoder, images: np.ndarray, others: np.ndarray, seed: int, fraction: float) -> dict:
    rng = np.random.default_rng(seed)
    kinds = [KINDS[i % len(KINDS)] for i in range(len(images))]
    covered, alphas = occluded_batch(images, rng, others, 1.0, kinds)
    expected = expected_face_mask(images.shape[-1])
    hidden = np.array([occluded_fraction(expected, alpha) for alpha in alphas])
    values = np.concatenate([scores(backbone, decoder, images), scores(backbone, decoder, covered)])
    labels = np.concatenate([np.zeros(len(images), bool), hidden >= fraction])
    threshold, tpr, fpr = best_threshold(labels, values)
    per_kind = {}
    clean = values[: len(images)]
    for kind in KINDS:
        mine = np.array([k == kind for k in kinds]) & (hidden >= fraction)
        kind_values = values[len(images) :][mine]
        per_kind[kind] = {
            "faces": int(mine.sum()),
            "roc_auc_vs_clean": round(
                roc_auc(np.r_[np.zeros(len(clean), bool), np.ones(len(kind_values), bool)], np.r_[clean, kind_values]),
                4,
            ),  # fmt: skip
            "flagged": round(float((kind_values >= threshold).mean()), 4),
        }
    return {
        "faces": int(len(values)),
        "occluded_faces": int(labels.sum()),
        "occluded_fraction_at_least": fraction,
        "roc_auc": round(roc_auc(labels, values), 4),
        "threshold": round(threshold, 3),
        "tpr": round(tpr, 4),
        "fpr": round(fpr, 4),
        "clean_flagged": round(float((clean >= threshold).mean()), 4),
        "per_kind": per_kind,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models train-decoder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--weights-dir", type=Path, default=Path("weights"), help="where the backbone ships")
    parser.add_argument("--export-dir", type=Path, default=Path("runs/decoder-export"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--occluded-share", type=float, default=0.6)
    parser.add_argument("--occluded-fraction", type=float, default=0.25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    backbone, backbone_entry = load_model(args.weights_dir, "emotion")
    for parameter in backbone.parameters():
        parameter.requires_grad_(False)
    data = np.load(args.data)
    train = data["images"][data["usage"] == "Training"]
    test = data["images"][data["usage"] == "PublicTest"]
    config = SaliencyDecoderConfig(widths=tuple(backbone.config.widths), backbone_sha256=backbone_entry["sha256"])
    decoder = FaceSaliencyNet(config)
    optimiser = torch.optim.AdamW(decoder.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * (len(train) // args.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=args.lr, total_steps=steps)
    expected = torch.from_numpy(expected_face_mask(48))
    rng = np.random.default_rng(args.seed)
    history = []
    began = time.time()
    for epoch in range(1, args.epochs + 1):
        decoder.train()
        order = rng.permutation(len(train))
        losses = []
        for start in range(0, len(order) - args.batch + 1, args.batch):
            rows = order[start : start + args.batch]
            images, alphas = occluded_batch(train[rows], rng, train, args.occluded_share, [None] * len(rows))
            flip = rng.random(len(rows)) < 0.5
            images[flip], alphas[flip] = images[flip, :, ::-1], alphas[flip, :, ::-1]
            x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255).unsqueeze(1)
            target = (expected * (1 - torch.from_numpy(np.ascontiguousarray(alphas)))).unsqueeze(1)
            with torch.no_grad():
                levels = backbone.forward_features(x)
            loss = multiscale_bce(list(decoder(*levels)), target, (1.0, 1.0, 1.0, 1.0))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
        decoder.eval()
        history.append(
            {"epoch": epoch, "loss": round(float(np.mean(losses)), 4), "seconds": round(time.time() - began)}
        )
        print(history[-1], flush=True)
    metrics = calibrate(backbone, decoder, test, train, args.seed + 1000, args.occluded_fraction)
    print(metrics, flush=True)
    path = args.export_dir / "saliency.pt"
    sha = save_weights(decoder, path)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    write_manifest_entry(args.export_dir, "saliency", {
        "file": path.name,
        "sha256": sha,
        "architecture": config.to_dict(),
        "backbone": "emotion",
        "backbone_sha256": backbone_entry["sha256"],
        "data": "fer2013_trainval.npz Training rows with synthetic occluders (models/data/occluders.py); "
                "calibrated on the PublicTest rows, clean and occluded (another seed)",
        "licence": "same as the project's code; trained on FER2013 (research use) as the backbone",
        "command": "python -m models train-decoder " + " ".join(sys.argv[1:] if argv is None else argv),
        "commit": commit,
        "history": history,
        "metrics": {"publictest_occlusion": metrics},
        "occlusion_threshold": metrics["threshold"],
        "score_scales": SCORE_SCALES,
    })  # fmt: skip
    print(f"wrote {path} (sha256 {sha[:12]})")


if __name__ == "__main__":
    main()
