"""Saving and loading trained weights with their manifest.

The manifest (``weights/manifest.json``) maps a model name to its file, sha256, architecture config,
training data, split, held-out metrics and the command that made it. Loading checks the file exists and
its hash matches, and refuses anything else with ``WeightsError``: the service never runs a model it
cannot vouch for.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from models.emotion_net import EmotionNet, EmotionNetConfig
from models.temporal_head import TemporalEmotionHead, TemporalHeadConfig

# A checkpoint names its kind, so one loader rebuilds any of the project's networks from its config.
KINDS: dict[str, tuple[type, type[nn.Module]]] = {
    "emotion_net": (EmotionNetConfig, EmotionNet),
    "temporal_head": (TemporalHeadConfig, TemporalEmotionHead),
}


class WeightsError(RuntimeError):
    """Weights are missing, corrupt or do not match their manifest."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def kind_of(model: nn.Module) -> str:
    for kind, (_, cls) in KINDS.items():
        if type(model) is cls:
            return kind
    raise TypeError(f"{type(model).__name__} is not a checkpointable network; known: {sorted(KINDS)}")


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
        config_cls, model_cls = KINDS[kind]
        model = model_cls(config_cls.from_dict(payload["config"]))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise WeightsError(f"weights file {path} does not match its architecture: {exc}") from exc
    return model.to(device).eval(), entry
