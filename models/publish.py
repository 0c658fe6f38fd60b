"""Install a training run's export into ``weights/``: a new model, or the next stage of an existing one.

    python -m models.publish --export-dir runs/stage5-export --name emotion --as-stage
    python -m models.publish --export-dir runs/member-b-export --name emotion_teacher_b

Why: a run exports to its own directory (``--export-dir``) so a worse run never overwrites the shipped
weights; this step is the deliberate one. As a stage it keeps the manifest's lineage: the entry being
replaced is folded into ``stages`` (commit, sha256, history, PublicTest accuracy and macro-F1), the new
stage records what it started from, and its command joins ``reproduce``. It refuses a stage that scores
below the shipped one on PublicTest accuracy unless ``--force``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from models.checkpoint import WeightsError, read_manifest, verified_entry, write_manifest_entry


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    print(
        f"installed {args.weights_dir / entry['file']} "
        f"(sha256 {entry['sha256'][:12]}…, PublicTest accuracy {_accuracy(entry):.4f})"
    )


if __name__ == "__main__":
    main()
