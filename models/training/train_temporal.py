"""Train the temporal head (video branch) over frozen backbone features of synthetic face tracks.

    python -m models train-temporal --data ../shared/data/fer2013_trainval.npz

1. Bank: Training stills (and, for model selection, PublicTest stills), each rendered in the variants of
   ``models.data.track_clips.VARIANTS``, go once through the *exported* backbone (``weights/emotion.pt``,
   frozen, eval mode); their D′4 maps and per-frame probabilities are kept.
2. Clips: ``models.data.track_clips.sample_clip`` strings bank entries into tracks with expression changes,
   corrupted runs and new tracks; the head is trained on every step against the segment's soft target
   (original label blended with the FER+ votes, as the backbone), valence/arousal derived from it, and a
   confidence target (is this step's label right?). Expression and V/A are balanced by learned weights.
   With ``--video-tracks`` (``python -m service track-crops``), a share of every batch (``--video-share``) are
   windows of real face tracks cut by the live detector, tracker and alignment, with the same corrupted runs
   dropped in. They have no labels: each window's target is the per-frame network's mean probability over
   its clean frames, so the head learns real motion, alignment jitter and compression while holding the
   label the frames agree on through the corrupted ones (self-distillation, not new label knowledge).
3. Selection: every ``--eval-every`` steps, fixed clips of PublicTest stills report per-step accuracy,
   flip rate inside segments and how often a real change is followed, for the head and, as the baseline,
   the per-frame backbone; the best step by accuracy is exported to ``weights/temporal.pt`` with the sha256
   of the backbone it was trained on (the service refuses a head paired with another backbone).
4. Prior: clips pick their classes uniformly and carry blended targets, so the head learns that prior, not
   the original labels'. Unless ``--no-prior-shift`` the prior of the targets it trains on is measured on 40
   sampled batches and the label-shift correction to the Training labels' prior (``models.training.prior_shift``)
   is folded into its expression bias for scoring and export, as the per-frame network's is. The per-frame
   probabilities that become video-track targets have the backbone's folded correction taken off first, so
   every target is in the same (blended) space. The validation clips are class-uniform too, so the correction
   costs the head some validation-clip accuracy there; the per-frame baseline carries the same correction.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur

from models.data.circumplex import expected_valence_arousal
from models.data.fer import load_split, soft_targets
from models.data.track_clips import VARIANTS, ClipOptions, flips, sample_clip, sample_variants, track_window
from models.device import resolve_device
from models.nets.emotion_net import EmotionNet
from models.nets.temporal_head import TemporalEmotionHead, TemporalHeadConfig
from models.training.multitask_loss import MultiTaskLoss
from models.training.prior_shift import folded_bias, label_shift_bias, manifest_record, shifted, unshift
from models.training.train import _commit
from models.weights import load_model, publish_weights, save_weights

CLEAN = VARIANTS.index("clean")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m models train-temporal",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="fer2013_trainval.npz")
    parser.add_argument("--weights-dir", type=Path, default=Path("weights"))
    parser.add_argument("--backbone", default="emotion", help="manifest name of the frozen per-face network")
    parser.add_argument("--stills", type=int, default=8000, help="Training stills in the bank")
    parser.add_argument("--val-stills", type=int, default=1500, help="PublicTest stills for selection clips")
    parser.add_argument("--val-clips", type=int, default=1000)
    parser.add_argument("--window", type=int, default=16, help="S, frames per clip and live window")
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--batch-size", type=int, default=64, help="clips per step")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate (cosine decay)")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--video-tracks", type=Path, nargs="*", default=[], help="npz files of service track-crops")
    parser.add_argument("--video-share", type=float, default=0.25, help="share of each batch from real tracks")
    parser.add_argument("--no-prior-shift", action="store_true", help="export without the label-shift correction")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--export-dir", type=Path, default=Path("weights"))
    parser.add_argument("--export-name", default="temporal")
    parser.add_argument("--no-export", action="store_true")
    return parser.parse_args(argv)


def render_variants(stills: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(M, 1, H, W) stills in [0, 1] -> (M, K, 1, H, W), K = len(VARIANTS), one render per variant name."""
    m, _, size, _ = stills.shape

    def uniform(lo: float, hi: float, n: int = m) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    def jitter(x: torch.Tensor) -> torch.Tensor:  # how a tracker's crop wobbles from frame to frame
        angle = uniform(-6, 6) * math.pi / 180
        scale = uniform(0.94, 1.06)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack(
            [torch.stack([cos, -sin, uniform(-0.05, 0.05)], 1), torch.stack([sin, cos, uniform(-0.05, 0.05)], 1)], 1
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        gain = uniform(0.85, 1.15)[:, None, None, None]
        return ((out - 0.5) * gain + 0.5 + uniform(-0.06, 0.06)[:, None, None, None]).clamp(0, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return gaussian_blur(jitter(x), kernel_size=7, sigma=float(uniform(1.0, 2.0, 1)))

    def occlude(x: torch.Tensor) -> torch.Tensor:  # a hand, a microphone, a passer-by
        out = jitter(x)
        for i in range(m):
            h, w = torch.randint(size // 3, size * 3 // 5, (2,), generator=generator).tolist()
            y = int(torch.randint(0, size - h + 1, (1,), generator=generator))
            x0 = int(torch.randint(0, size - w + 1, (1,), generator=generator))
            out[i, :, y : y + h, x0 : x0 + w] = float(torch.rand(1, generator=generator))
        return out

    def degrade(x: torch.Tensor) -> torch.Tensor:  # a small distant face, upscaled, with sensor noise
        side = int(torch.randint(14, 25, (1,), generator=generator))
        small = F.interpolate(jitter(x), size=(side, side), mode="area")
        up = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
        return (up + 0.03 * torch.randn(up.shape, generator=generator)).clamp(0, 1)

    renders = {"clean": lambda x: x, "jitter": jitter, "blur": blur, "occluded": occlude, "degraded": degrade}
    return torch.stack([renders[name](stills) for name in VARIANTS], dim=1)


@torch.inference_mode()
def build_bank(
    net: EmotionNet,
    stills: torch.Tensor,
    generator: torch.Generator,
    device: torch.device,
    batch: int = 256,
    flip: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stills -> D′4 maps (M, K, 256, h, w) fp16 and per-frame probabilities (M, K, C), every variant.

    ``flip`` mirrors a random half of the stills; frames of real tracks are kept as they are (a track
    must not change sides from frame to frame).
    """
    maps, probs = [], []
    began = time.time()
    for start in range(0, len(stills), batch):
        chunk = stills[start : start + batch]
        mirrored = (torch.rand(len(chunk), generator=generator) < 0.5) & flip  # one side per still
        chunk = torch.where(mirrored[:, None, None, None], chunk.flip(-1), chunk)
        variants = render_variants(chunk, generator)
        m, k = variants.shape[:2]
        flat = variants.reshape(m * k, *variants.shape[2:]).to(device)
        deepest = net.forward_features(flat)[-1]
        maps.append(deepest.half().cpu().reshape(m, k, *deepest.shape[1:]))
        probs.append(net.forward_head(deepest).logits.float().softmax(-1).cpu().reshape(m, k, -1))
        print(f"  bank {start + len(chunk)}/{len(stills)} stills ({time.time() - began:.0f} s)", flush=True)
    return torch.cat(maps), torch.cat(probs)


class ClipBatcher:
    """Turns sampled clips into model inputs and per-step targets."""

    def __init__(self, maps: torch.Tensor, probs: torch.Tensor, labels: np.ndarray, targets: torch.Tensor) -> None:
        self.maps, self.probs, self.labels, self.targets = maps, probs, labels, targets
        self.by_class = [np.flatnonzero(labels == c) for c in range(targets.shape[1])]

    def batch(self, n: int, options: ClipOptions, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        clips = [sample_clip(self.labels, self.by_class, options, rng) for _ in range(n)]
        stills = torch.from_numpy(np.stack([c.stills for c in clips]))
        variants = torch.from_numpy(np.stack([c.variants for c in clips]))
        segment_targets = [
            torch.stack([self.targets[torch.from_numpy(pool)].mean(0) for pool in c.pools]) for c in clips
        ]
        target = torch.stack(
            [t[torch.from_numpy(c.segment)] for t, c in zip(segment_targets, clips, strict=True)]
        )  # (N, S, C)
        segment_class = torch.stack(
            [torch.tensor(c.classes)[torch.from_numpy(c.segment)] for c in clips]
        )  # (N, S): the segment's class, what a step's label should be
        return {
            "features": self.maps[stills, variants].float(),
            "frame_probs": self.probs[stills, variants],
            "target": target,
            "segment_class": segment_class,
            "segment": torch.from_numpy(np.stack([c.segment for c in clips])),
            "changed": torch.tensor([c.change_step is not None for c in clips]),
        }


class TrackBatcher:
    """Windows of real face tracks; target = the per-frame network's mean over the window's clean frames."""

    def __init__(self, maps: torch.Tensor, probs: torch.Tensor, track: np.ndarray) -> None:
        self.maps, self.probs = maps, probs
        self.tracks = [np.flatnonzero(track == t) for t in np.unique(track)]
        self.weights = np.array([len(rows) for rows in self.tracks], np.float64)
        self.weights /= self.weights.sum()  # every frame equally likely to end a window

    def batch(self, n: int, options: ClipOptions, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        rows, variants = [], []
        for t in rng.choice(len(self.tracks), size=n, p=self.weights):
            frames = self.tracks[t]
            window = track_window(len(frames), int(rng.integers(len(frames))), options.length)
            rows.append(frames[window])
            variants.append(sample_variants(options.length, options, rng))
        rows_t, variants_t = torch.from_numpy(np.stack(rows)), torch.from_numpy(np.stack(variants))
        target = self.probs[rows_t, CLEAN].float().mean(1, keepdim=True).expand(-1, options.length, -1)
        return {
            "features": self.maps[rows_t, variants_t].float(),
            "frame_probs": self.probs[rows_t, variants_t],
            "target": target,
            "segment_class": target.argmax(-1),
            "segment": torch.zeros(n, options.length, dtype=torch.int64),
            "changed": torch.zeros(n, dtype=torch.bool),
        }


def merge_batches(*batches: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: torch.cat([b[key] for b in batches]) for key in batches[0]}


def load_video_tracks(
    paths: list[Path],
    net: EmotionNet,
    generator: torch.Generator,
    device: torch.device,
    frame_shift: torch.Tensor | None = None,
) -> TrackBatcher | None:
    """Banks every frame of the tracks in ``paths`` (all variants, unflipped); None without paths.

    ``frame_shift`` is the correction folded into ``net``'s head: it is taken off the per-frame
    probabilities, which become targets in the blended-target space the head is trained in.
    """
    if not paths:
        return None
    crops, track = [], []
    for path in paths:
        if not path.is_file():
            sys.exit(f"error: no track crops at {path}; cut them with python -m service track-crops")
        data = np.load(path)
        offset = track[-1].max() + 1 if track else 0
        crops.append(torch.from_numpy(data["crops"]).float().div_(255.0).unsqueeze(1))
        track.append(data["track"] + offset)
    print(f"video tracks: {sum(len(c) for c in crops)} frames of {len(np.unique(np.concatenate(track)))} tracks")
    maps, probs = build_bank(net, torch.cat(crops), generator, device, flip=False)
    return TrackBatcher(maps, unshift(probs, frame_shift), np.concatenate(track))


def clip_metrics(labels: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per-step accuracy, flip rate inside segments, and the share of changes followed by the clip's end."""
    truth, segment = batch["segment_class"], batch["segment"]
    pairs = int((segment[:, 1:] == segment[:, :-1]).sum())
    flip_count = sum(
        flips(row.numpy(), keep=seg[1:].numpy() == seg[:-1].numpy()) for row, seg in zip(labels, segment, strict=True)
    )
    changed = batch["changed"]
    followed = (labels[changed, -1] == truth[changed, -1]).float().mean().item() if changed.any() else float("nan")
    return {
        "accuracy": (labels == truth).float().mean().item(),
        "flip_rate": flip_count / max(pairs, 1),
        "change_followed": followed,
    }


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    commit = _commit()
    if not args.data.is_file():
        sys.exit(f"error: no such data file: {args.data}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    net, backbone_entry = load_model(args.weights_dir, args.backbone, device)
    banks = {}
    for usage, count in (("Training", args.stills), ("PublicTest", args.val_stills)):
        split = load_split(args.data, usage)
        if usage == "Training":
            train_labels = split.labels  # the original labels' prior, which the live head should answer in
        rows = torch.from_numpy(rng.choice(len(split.images), size=min(count, len(split.images)), replace=False))
        print(f"{usage}: rendering {len(rows)} stills x {len(VARIANTS)} variants through the backbone", flush=True)
        maps, probs = build_bank(net, split.images[rows], generator, device)
        targets = soft_targets(split.labels[rows], split.votes[rows], vote_weight=0.4, smoothing=0.05)
        banks[usage] = ClipBatcher(maps, probs, split.labels[rows].numpy(), targets)
    train_bank, val_bank = banks["Training"], banks["PublicTest"]
    video_bank = load_video_tracks(args.video_tracks, net, generator, device, folded_bias(backbone_entry))
    video_clips = round(args.batch_size * args.video_share) if video_bank else 0
    options = ClipOptions(length=args.window)

    def draw(n: int, generator_rng: np.random.Generator) -> dict[str, torch.Tensor]:
        batch = train_bank.batch(n - video_clips, options, generator_rng)
        if video_bank:
            batch = merge_batches(batch, video_bank.batch(video_clips, options, generator_rng))
        return batch

    head_shift = None
    if not args.no_prior_shift:  # clips pick classes uniformly: measure the prior the head is trained on
        prior_rng = np.random.default_rng(args.seed + 1)  # leaves the training draws untouched
        sampled = torch.cat([draw(args.batch_size, prior_rng)["target"] for _ in range(40)])
        head_shift = label_shift_bias(sampled.reshape(-1, sampled.shape[-1]), train_labels)
        print("label-shift offset of the head: " + ", ".join(f"{v:+.3f}" for v in head_shift.tolist()), flush=True)
    val_batch = val_bank.batch(args.val_clips, options, np.random.default_rng(12345))
    baseline = clip_metrics(val_batch["frame_probs"].argmax(-1), val_batch)
    print("per-frame backbone on validation clips: " + json.dumps({k: round(v, 4) for k, v in baseline.items()}))

    head = TemporalEmotionHead(TemporalHeadConfig(window=args.window, channels=net.num_features)).to(device)
    balance = MultiTaskLoss().to(device)
    optimizer = torch.optim.AdamW(
        [{"params": head.parameters(), "weight_decay": 1e-4}, {"params": balance.parameters(), "weight_decay": 0.0}],
        lr=args.lr,
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    best: dict = {"accuracy": -1.0}
    history = []
    run_dir = Path("runs/temporal")
    run_dir.mkdir(parents=True, exist_ok=True)
    began = time.time()
    for step in range(1, args.steps + 1):
        head.train()
        batch = draw(args.batch_size, rng)
        out = head(batch["features"].to(device))
        target = batch["target"].to(device)
        c = target.shape[-1]
        terms = balance(
            expression_logits=out.logits.reshape(-1, c),
            expression_target=target.reshape(-1, c),
            valence_arousal=out.valence_arousal.reshape(-1, 2),
            valence_arousal_target=expected_valence_arousal(target.reshape(-1, c)),
        )
        right = (out.logits.argmax(-1) == batch["segment_class"].to(device)).float()
        loss = terms.total + 0.2 * F.binary_cross_entropy(out.confidence.clamp(1e-6, 1 - 1e-6), right)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), 5.0)
        optimizer.step()
        scheduler.step()
        if step % 50 == 0:
            print(
                f"step {step}/{args.steps} loss {terms.parts['expression'].item():.4f} "
                f"acc {right.mean().item():.3f} ({time.time() - began:.0f} s)",
                flush=True,
            )
        if step % args.eval_every == 0 or step == args.steps:
            head.eval()
            with shifted(head.encoder.expression, head_shift):  # scored and saved the way it is exported
                with torch.inference_mode():
                    labels = head(val_batch["features"].to(device)).logits.argmax(-1).cpu()
                record = {"step": step, **{k: round(v, 4) for k, v in clip_metrics(labels, val_batch).items()}}
                if record["accuracy"] > best["accuracy"]:
                    best = record
                    save_weights(head, run_dir / "best.pt")
            history.append(record)
            print(json.dumps(record), flush=True)

    print(f"best step {best['step']}: " + json.dumps(best), flush=True)
    if args.no_export:
        return
    target_file = publish_weights(
        run_dir / "best.pt",
        args.export_dir,
        args.export_name,
        {
            "kind": "temporal_head",
            "architecture": head.config.to_dict(),
            "parameters": sum(p.numel() for p in head.parameters()),
            "backbone": args.backbone,
            "backbone_sha256": backbone_entry["sha256"],
            "data": f"{args.data.name}: synthetic tracks of FER2013 stills (models/data/track_clips.py)",
            "train_split": f"{args.stills} random Training stills x {len(VARIANTS)} variants {list(VARIANTS)}",
            "video_tracks": {
                "files": [path.name for path in args.video_tracks],
                "share_of_batch": args.video_share if video_bank else 0.0,
                "targets": "per-frame network's mean probability over each window's clean frames (no labels)",
            },
            "selection_split": f"{args.val_clips} fixed clips of {args.val_stills} PublicTest stills; best by accuracy",
            "targets": "segment soft target (0.6 original label, smoothing 0.05 + 0.4 FER+ votes); derived V/A; "
            "confidence = step label right",
            "prior_shift": manifest_record(head_shift),
            "metrics": {"validation_clips": best, "per_frame_baseline": baseline},
            "history": history,
            "command": "python -m models train-temporal " + " ".join(sys.argv[1:] if argv is None else argv),
            "commit": commit,
            "device": str(device),
        },
    )
    print(f"exported {target_file} and its manifest entry", flush=True)
