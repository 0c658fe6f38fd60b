"""Train the per-face emotion network on FER2013 (+ FER+ votes).

    python -m models train --data ../shared/data/fer2013_trainval.npz --epochs 24

Training rows train; PublicTest rows pick the best epoch (no other split is touched). With
``--saliency`` (masks from ``python -m models saliency-targets``) the top-down saliency decoder (Eq. 8 of
"Multi-task framework for character face recognition and emotion analysis in TV programs") runs on the
first ``--saliency-share`` faces of every batch and the multi-task loss (Eq. 9–11, learnable weights)
balances saliency BCE, expression and valence/arousal; the decoder is a training-time auxiliary and is not
exported. Unless ``--no-prior-shift``, every epoch is scored (and the best one exported) with the
label-shift correction of ``models.training.prior_shift`` folded into the expression bias: the blended
targets' class prior is not the original labels'. With ``--swa-epochs N`` the last N epochs run at the
constant ``--swa-lr`` and their end-of-epoch weights are averaged (``models.training.weight_averaging``);
after each of them the average, with BatchNorm statistics re-estimated, is scored like an epoch and may be
the one exported. ``--init`` continues from exported weights of the same architecture (a second stage).
Seeded and resumable: every epoch writes ``<run-dir>/last.pt`` and, when it is the best so far,
``<run-dir>/best.pt``; ``--resume`` continues from the former. At the end the best epoch is exported to
``--export-dir`` with its manifest entry (sha256, config, data, split, metrics, command, device);
``python -m models publish`` installs it in ``weights/``.

Speed: ``--bf16`` autocast (``auto``: on CUDA, and on CPUs with AMX), channels-last layout,
``--compile`` (``torch.compile`` of the backbone), ``--device-data`` (the whole training set, its targets and
its augmentation on the device, so a GPU never waits for the host). ``--dry-run-steps N`` times N steps and
one PublicTest evaluation, prints the projected epoch time as a JSON line and stops, so a schedule can be sized
to a time limit; ``--time-budget-s`` ends training before an epoch that would not finish in time, and the
best epoch so far is still exported (``scripts/device_train.sh`` is the prepared GPU run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from models.data.circumplex import expected_valence_arousal
from models.data.fer import augment, load_split, soft_targets
from models.device import bf16_autocast, resolve_device
from models.evaluation.evaluate import evaluate
from models.nets.emotion_net import EmotionNet, EmotionNetConfig
from models.nets.saliency_decoder import SaliencyDecoder
from models.registry import architectures, create_model
from models.training.multitask_loss import TASKS, MultiTaskLoss
from models.training.prior_shift import label_shift_bias, manifest_record, shifted
from models.training.weight_averaging import refresh_batchnorm
from models.weights import publish_weights, save_weights


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m models train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="fer2013_trainval.npz")
    parser.add_argument("--model", default="resnet_ca_s", choices=architectures("emotion_net"))
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1, help="peak SGD learning rate (one-cycle schedule)")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--vote-weight", type=float, default=0.4, help="share of the FER+ vote distribution in targets")
    parser.add_argument("--smoothing", type=float, default=0.05, help="label smoothing of the original label")
    parser.add_argument(
        "--no-prior-shift",
        action="store_true",
        help="do not fold the target-to-label prior correction into the exported head (models.training.prior_shift)",
    )
    parser.add_argument("--saliency", type=Path, default=None, help="saliency masks npz (models saliency-targets)")
    parser.add_argument("--saliency-share", type=int, default=32, help="faces per batch that also train the decoder")
    parser.add_argument(
        "--swa-epochs", type=int, default=0, help="average the weights of the last N epochs (constant --swa-lr)"
    )
    parser.add_argument("--swa-lr", type=float, default=0.01, help="learning rate while weights are averaged")
    parser.add_argument(
        "--swa-bn-rows", type=int, default=8192, help="Training faces that re-estimate the average's BatchNorm"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--bf16", default="auto", choices=["auto", "on", "off"], help="bf16 autocast (auto: CUDA, AMX)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the backbone (pays on CUDA)")
    parser.add_argument(
        "--device-data", action="store_true", help="keep the training set and its augmentation on --device"
    )
    parser.add_argument(
        "--dry-run-steps", type=int, default=0, help="time this many steps and one evaluation, then stop"
    )
    parser.add_argument("--time-budget-s", type=float, default=0.0, help="start no epoch that would end past this")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training rows (smoke runs)")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/emotion"))
    parser.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.pt")
    parser.add_argument(
        "--init", type=Path, default=None, help="start from these exported weights of --model (a second stage)"
    )
    parser.add_argument("--export-dir", type=Path, default=Path("weights"), help="where the best epoch is exported")
    parser.add_argument("--export-name", default="emotion", help="model name in the weights manifest")
    parser.add_argument("--no-export", action="store_true")
    return parser.parse_args(argv)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _load_masks(path: Path | None, rows: int) -> torch.Tensor | None:
    """uint8 (N, 1, 48, 48) saliency masks aligned with the Training rows, or None without --saliency."""
    if path is None:
        return None
    if not path.is_file():
        sys.exit(f"error: no saliency masks at {path}; build them with python -m models saliency-targets")
    masks = np.load(path)["masks"]
    if len(masks) != rows:
        sys.exit(f"error: {path} holds {len(masks)} masks for {rows} Training rows; rebuild it")
    return torch.from_numpy(masks).unsqueeze(1)


def _initial(path: Path, model: EmotionNet) -> EmotionNet:
    """``model`` loaded from exported weights of the same architecture; anything else ends the run."""
    if not path.is_file():
        sys.exit(f"error: no such weights file: {path}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    config = EmotionNetConfig.from_dict(payload["config"])
    if config.name != model.config.name:
        sys.exit(f"error: {path} holds {config.name!r}, not {model.config.name!r}: --init continues the same network")
    model.load_state_dict(payload["state_dict"])
    print(f"initialised from {path}", flush=True)
    return model


def _scores(result: dict) -> dict:
    """The two PublicTest figures every history entry carries (original labels)."""
    return {"accuracy": result["original"]["accuracy"], "macro_f1": result["original"]["macro_f1"]}


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _dry_run_report(
    args: argparse.Namespace,
    model: EmotionNet,
    device: torch.device,
    steps_per_epoch: int,
    timed_from: float,
    timed_steps: int,
) -> None:
    """One JSON line: seconds per step and per evaluation, and what an epoch of this setup costs."""
    _synchronise(device)
    step_s = (time.time() - timed_from) / timed_steps
    began = time.time()
    evaluate([model], args.data, "PublicTest", flip_tta=True)
    eval_s = time.time() - began
    report = {
        "step_s": round(step_s, 5),
        "steps_per_epoch": steps_per_epoch,
        "eval_s": round(eval_s, 3),
        "epoch_s": round(step_s * steps_per_epoch + eval_s, 2),
        "batch_size": args.batch_size,
        "model": args.model,
        "device": str(device),
    }
    print(json.dumps({"dry_run": report}), flush=True)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    commit = _commit()  # the code that trains, recorded before anything can change the tree
    if not args.data.is_file():
        sys.exit(f"error: no such data file: {args.data}")
    if not 0 <= args.swa_epochs <= args.epochs or args.swa_lr <= 0 or args.swa_bn_rows < 1:
        sys.exit("error: --swa-epochs must lie in [0, --epochs], --swa-lr and --swa-bn-rows be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    train = load_split(args.data, "Training")
    images, labels = train.images, train.labels
    targets = soft_targets(labels, train.votes, args.vote_weight, args.smoothing)
    prior_bias = None if args.no_prior_shift else label_shift_bias(targets, labels)  # priors of the whole split
    if args.limit:
        images, labels, targets = images[: args.limit], labels[: args.limit], targets[: args.limit]
    masks = _load_masks(args.saliency, len(train.images))
    if masks is not None and args.limit:
        masks = masks[: args.limit]

    model = create_model(args.model)
    if args.init is not None:
        model = _initial(args.init, model)
    model = model.to(device, memory_format=torch.channels_last)  # ~30 % faster convolutions on CPU too
    decoder = SaliencyDecoder(model.config.widths, fusion="paper").to(device, memory_format=torch.channels_last)
    balance = MultiTaskLoss().to(device)
    optimizer = torch.optim.SGD(
        [
            {"params": [*model.parameters(), *decoder.parameters()], "weight_decay": args.weight_decay},
            {"params": balance.parameters(), "weight_decay": 0.0},
        ],
        lr=args.lr,
        momentum=0.9,
        nesterov=True,
    )
    steps_per_epoch = (len(images) + args.batch_size - 1) // args.batch_size
    cycle_epochs = args.epochs - args.swa_epochs  # one-cycle first, then (if any) the averaged epochs
    schedulers = {}
    if cycle_epochs:
        schedulers["cycle"] = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=args.lr, total_steps=cycle_epochs * steps_per_epoch, pct_start=0.15
        )
    if args.swa_epochs:  # one epoch's cosine glide from the current rate to --swa-lr, then constant
        schedulers["swa"] = torch.optim.swa_utils.SWALR(optimizer, args.swa_lr, anneal_epochs=steps_per_epoch)
    average = torch.optim.swa_utils.AveragedModel(model) if args.swa_epochs else None
    generator = torch.Generator().manual_seed(args.seed)
    start_epoch, best, history = 0, {"accuracy": -1.0}, []
    args.run_dir.mkdir(parents=True, exist_ok=True)
    last_path = args.run_dir / "last.pt"
    if args.resume and last_path.is_file():
        state = torch.load(last_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        decoder.load_state_dict(state["decoder"])
        balance.load_state_dict(state["balance"])
        optimizer.load_state_dict(state["optimizer"])
        for key, scheduler in schedulers.items():
            scheduler.load_state_dict(state["schedulers"][key])
        if average is not None:
            average.load_state_dict(state["average"])
        generator.set_state(state["generator"])
        start_epoch, best, history = state["epoch"] + 1, state["best"], state["history"]
        print(f"resumed from {last_path} at epoch {start_epoch}", flush=True)

    bf16 = bf16_autocast(args.bf16, device)
    features = torch.compile(model.forward_features) if args.compile else model.forward_features
    if args.device_data:  # the whole split lives on the device; batches are indexed and augmented there
        images, labels, targets = images.to(device), labels.to(device), targets.to(device)
        masks = None if masks is None else masks.to(device)
    print(
        f"training {args.model} on {device}: bf16 autocast {'on' if bf16 else 'off'}, channels-last, "
        f"compile {'on' if args.compile else 'off'}, data on {'the device' if args.device_data else 'the host'}",
        flush=True,
    )
    run_began = time.time()
    for epoch in range(start_epoch, args.epochs):
        if args.time_budget_s and history and time.time() - run_began + history[-1]["seconds"] > args.time_budget_s:
            print(f"time budget {args.time_budget_s:.0f} s: stopping before epoch {epoch + 1}", flush=True)
            break
        averaging = epoch >= cycle_epochs
        scheduler = schedulers["swa" if averaging else "cycle"]
        model.train()
        began, seen = time.time(), 0
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.int64)
        order = torch.randperm(len(images), generator=generator)
        steps = min(steps_per_epoch, args.dry_run_steps) if args.dry_run_steps else steps_per_epoch
        for step in range(steps):
            if args.dry_run_steps and step == min(5, steps - 1):  # warm-up (and compilation) done: time from here
                _synchronise(device)
                timed_from, timed_steps = time.time(), steps - step
            index = order[step * args.batch_size : (step + 1) * args.batch_size].to(images.device)
            share = index[: args.saliency_share] if masks is not None else index[:0]
            extra = None if masks is None else masks[share].float().div_(255.0)
            faces, warped = augment(images[index], generator, extra)
            faces = faces.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            target = targets[index].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                levels = features(faces)
                out = model.forward_head(levels[-1])
                saliency = decoder([level[: len(share)] for level in levels]) if warped is not None else None
            logits = out.logits.float()
            terms = balance(
                expression_logits=logits,
                expression_target=target,
                valence_arousal=out.valence_arousal.float(),
                valence_arousal_target=expected_valence_arousal(target),
                image_masks=None if saliency is None else [x.float() for x in saliency.logits],
                image_target=None if warped is None else warped.to(device),
            )
            loss = terms.total
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            seen += len(index)
            loss_sum += terms.parts["expression"].detach() * len(index)  # kept on the device: no sync per step
            correct += (logits.argmax(1) == labels[index].to(device)).sum()
            if step % 50 == 0:
                print(
                    f"epoch {epoch + 1}/{args.epochs} step {step}/{steps_per_epoch} loss {loss_sum.item() / seen:.4f} "
                    f"train_acc {correct.item() / seen:.4f} lr {optimizer.param_groups[0]['lr']:.4f} "
                    + " ".join(f"{k}={v.item():.3f}" for k, v in terms.parts.items())
                    + " weights "
                    + " ".join(f"{k}={v.item():.2f}" for k, v in terms.weights.items()),
                    flush=True,
                )
        if args.dry_run_steps:
            _dry_run_report(args, model, device, steps_per_epoch, timed_from, timed_steps)
            return
        record = {
            "epoch": epoch + 1,
            "train_expression_loss": loss_sum.item() / seen,
            "train_acc": correct.item() / seen,
        }
        candidates = [(model, record)]
        if averaging:
            average.update_parameters(model)
            refresh_batchnorm(average, images[: args.swa_bn_rows])
            # The average stands for the epochs cycle_epochs+1 .. epoch+1 and competes with them for export.
            record["average"] = {"epoch": f"average of epochs {cycle_epochs + 1}-{epoch + 1}"}
            candidates.append((average.module, record["average"]))
        for net, entry in candidates:
            with shifted(net.expression, prior_bias):  # scored and saved the way it is exported
                result = evaluate([net], args.data, "PublicTest", flip_tta=True)
                if result["original"]["accuracy"] > best["accuracy"]:
                    save_weights(net, args.run_dir / "best.pt")
                    best = {**entry, **_scores(result), "metrics": result}
            entry.update(_scores(result))
        record["seconds"] = time.time() - began
        history.append(record)
        print(json.dumps(record), flush=True)
        torch.save(
            {
                "model": model.state_dict(),
                "decoder": decoder.state_dict(),
                "balance": balance.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedulers": {key: scheduler.state_dict() for key, scheduler in schedulers.items()},
                "average": None if average is None else average.state_dict(),
                "generator": generator.get_state(),
                "epoch": epoch,
                "best": best,
                "history": history,
            },
            last_path,
        )

    print(
        f"best epoch {best['epoch']}: PublicTest accuracy {best['accuracy']:.4f} macro-F1 {best['macro_f1']:.4f}",
        flush=True,
    )
    if args.no_export:
        return
    target_file = publish_weights(
        args.run_dir / "best.pt",
        args.export_dir,
        args.export_name,
        {
            "architecture": model.config.to_dict(),
            "parameters": sum(p.numel() for p in model.parameters()),
            "data": f"{args.data.name}: FER2013 images with FER+ votes (see ../shared/data/README.md)",
            "train_split": "usage == Training (28,709 rows)" if not args.limit else f"first {args.limit} Training rows",
            "selection_split": "usage == PublicTest (3,589 rows); best epoch (or weight average) by accuracy",
            "weight_averaging": (
                f"SWA of the last {args.swa_epochs} epochs at lr {args.swa_lr} (models/training/weight_averaging.py); "
                f"BatchNorm re-estimated on the first {min(args.swa_bn_rows, len(images))} un-augmented Training faces"
                if args.swa_epochs
                else "none"
            ),
            "targets": f"(1-{args.vote_weight})*one-hot(original label, smoothing {args.smoothing}) + "
            f"{args.vote_weight}*FER+ vote distribution; "
            "valence/arousal targets derived: circumplex coordinates averaged under the class target "
            "(FER2013 has no V/A labels)",
            "prior_shift": manifest_record(prior_bias),
            "saliency": (
                f"decoder (Eq. 8, fusion 'paper') on {args.saliency_share} faces per batch; masks {args.saliency.name} "
                "from MTCNN boxes and landmarks (models/data/saliency_targets.py); tasks balanced by learned "
                "log-variances "
                + json.dumps({k: round(float(v), 3) for k, v in zip(TASKS, balance.log_vars.detach(), strict=True)})
                if masks is not None
                else "none (expression and valence/arousal balanced by learned log-variances)"
            ),
            "metrics": {
                "publictest_original": best["metrics"]["original"],
                "publictest_ferplus_majority": best["metrics"].get("ferplus_majority"),
                "flip_tta": True,
                "best_epoch": best["epoch"],
            },
            "history": history,
            "command": "python -m models train " + " ".join(sys.argv[1:] if argv is None else argv),
            "commit": commit,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
            "speed": {"bf16_autocast": bf16, "compile": args.compile, "data_on_device": args.device_data},
        },
    )
    print(f"exported {target_file} and its manifest entry", flush=True)
