"""Saving, verifying, loading and publishing trained weights with their manifest.

The manifest (``weights/manifest.json``) maps a model name to its file, sha256, architecture config,
training data, split, held-out metrics and the command that made it. Loading checks the file exists and
its hash matches, and refuses anything else with ``WeightsError``: the service never runs a model it
cannot vouch for.

Publishing (``python -m models publish``) installs a training run's export into ``weights/``, as a new
model or as the next stage of an existing one:

    python -m models publish --export-dir runs/stage5-export --name emotion --as-stage
    python -m models publish --export-dir runs/other-export --name emotion_b

A run exports to its own directory (``--export-dir``) so a worse run never overwrites the shipped weights;
publishing is the deliberate step. As a stage it keeps the manifest's lineage: the entry being replaced is
folded into ``stages`` (commit, sha256, history, PublicTest accuracy and macro-F1), the new stage records
what it started from, and its command joins ``reproduce``. It refuses a stage that scores below the
shipped one on PublicTest accuracy unless ``--force``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch
from torch import nn

from models.registry import build, kind_of


class WeightsError(RuntimeError):
    """Weights are missing, corrupt or do not match their manifest."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_weights(model: nn.Module, path: Path) -> str:
    """Writes kind + config + state dict (fp32) and returns the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().float() if v.is_floating_point() else v.cpu() for k, v in model.state_dict().items()}
    torch.save({"kind": kind_of(model), "config": model.config.to_dict(), "state_dict": state}, path)
    return sha256_of(path)


def read_manifest(weights_dir: Path) -> dict:
    manifest_path = weights_dir / "manifest.json"
    if not manifest_path.is_file():
        raise WeightsError(f"no weights manifest at {manifest_path}; the service ships trained weights in weights/")
    try:
        return json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise WeightsError(f"weights manifest {manifest_path} is not valid JSON: {exc}") from exc


def write_manifest_entry(weights_dir: Path, name: str, entry: dict) -> None:
    manifest_path = weights_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"models": {}}
    manifest["models"][name] = entry
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def publish_weights(best: Path, export_dir: Path, name: str, entry: dict) -> Path:
    """Copies a run's best checkpoint to ``export_dir/<name>.pt`` and records it (file, sha256, ``entry``)."""
    target = export_dir / f"{name}.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(best.read_bytes())
    write_manifest_entry(export_dir, name, {"file": target.name, "sha256": sha256_of(target), **entry})
    return target


def verified_entry(weights_dir: Path, name: str) -> dict:
    """Model ``name``'s manifest entry, once its file exists and has the recorded sha256."""
    manifest = read_manifest(weights_dir)
    entry = manifest.get("models", {}).get(name)
    if entry is None:
        raise WeightsError(
            f"model {name!r} is not in {weights_dir / 'manifest.json'}; known: {sorted(manifest.get('models', {}))}"
        )
    path = weights_dir / entry["file"]
    if not path.is_file():
        raise WeightsError(f"weights file {path} for model {name!r} is missing")
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise WeightsError(f"weights file {path} has sha256 {actual}, manifest says {entry['sha256']}")
    return entry


def load_model(
    weights_dir: Path, name: str, device: torch.device | str = "cpu", kind: str | None = "emotion_net"
) -> tuple[nn.Module, dict]:
    """Loads model ``name`` of ``kind`` (None: whichever kind the file holds) after checking its sha256;
    returns (model in eval mode, manifest entry)."""
    entry = verified_entry(weights_dir, name)
    path = weights_dir / entry["file"]
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        found = payload.get("kind", "emotion_net")  # files from before kinds were recorded hold an EmotionNet
        kind = kind or found
        if found != kind:
            raise WeightsError(f"weights file {path} for model {name!r} holds a {found}, not a {kind}")
        model = build(kind, payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise WeightsError(f"weights file {path} does not match its architecture: {exc}") from exc
    return model.to(device).eval(), entry


# --- publishing: a run's export -> weights/, keeping the lineage of stages


def _accuracy(entry: dict) -> float:
    return entry["metrics"]["publictest_original"]["accuracy"]


def stage_entry(previous: dict, new: dict) -> dict:
    """``new`` as the next stage after ``previous``: lineage in ``stages``, commands in ``reproduce``."""
    stages = [dict(stage) for stage in previous.get("stages", [])]
    if not stages:  # the first stage had no lineage yet: it is the previous entry itself
        stages = [{"stage": 1, "command": previous["command"]}]
    reproduce = list(previous.get("reproduce", [previous["command"]]))
    stages[-1].update(
        commit=previous.get("commit"),
        sha256=previous["sha256"],
        history=previous.get("history", []),
        publictest_accuracy=_accuracy(previous),
        publictest_macro_f1=previous["metrics"]["publictest_original"]["macro_f1"],
    )
    number = stages[-1]["stage"] + 1
    stages.append(
        {"stage": number, "command": new["command"], "init": f"stage {number - 1} weights, sha256 {previous['sha256']}"}
    )
    reproduce.append(f"{new['command']}  # run with stage {number - 1}'s weights in weights/{previous['file']}")
    return {**new, "file": previous["file"], "stages": stages, "reproduce": reproduce}


def publish(export_dir: Path, name: str, weights_dir: Path, as_stage: bool, force: bool = False) -> dict:
    """Copies ``export_dir``'s model ``name`` into ``weights_dir`` and writes its manifest entry; returns it."""
    new = verified_entry(export_dir, name)
    existing = (
        read_manifest(weights_dir).get("models", {}).get(name) if (weights_dir / "manifest.json").is_file() else None
    )
    if as_stage:
        if existing is None:
            raise WeightsError(f"--as-stage needs an existing {name!r} in {weights_dir / 'manifest.json'}")
        if _accuracy(new) < _accuracy(existing) and not force:
            raise WeightsError(
                f"the new stage scores {_accuracy(new):.4f} on PublicTest, below the shipped "
                f"{_accuracy(existing):.4f}; pass --force to install it anyway"
            )
        entry = stage_entry(existing, new)
    elif existing is not None:
        raise WeightsError(f"{name!r} is already in {weights_dir / 'manifest.json'}; pass --as-stage to replace it")
    else:
        entry = new
    shutil.copyfile(export_dir / new["file"], weights_dir / entry["file"])
    write_manifest_entry(weights_dir, name, entry)
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m models publish",
        description="Install a training run's export into weights/: a new model, or the next stage of one.",
    )
    parser.add_argument("--export-dir", type=Path, required=True, help="a run's --export-dir")
    parser.add_argument("--name", required=True, help="model name in both manifests")
    parser.add_argument("--weights-dir", type=Path, default=Path("weights"))
    parser.add_argument("--as-stage", action="store_true", help="replace the existing model as its next stage")
    parser.add_argument("--force", action="store_true", help="install a stage even if it scores lower")
    args = parser.parse_args(argv)
    try:
        entry = publish(args.export_dir, args.name, args.weights_dir, args.as_stage, args.force)
    except WeightsError as exc:
        sys.exit(f"error: {exc}")
    scored = f", PublicTest accuracy {_accuracy(entry):.4f}" if "publictest_original" in entry["metrics"] else ""
    print(f"installed {args.weights_dir / entry['file']} (sha256 {entry['sha256'][:12]}…{scored})")
