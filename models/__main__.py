"""One command line for the offline side of ``models``: ``python -m models <command> [args]``.

Each command is the ``main(argv)`` of one module, imported only when it runs (export needs onnx, saliency
targets MTCNN); ``python -m models <command> --help`` lists its options.
"""

from __future__ import annotations

import importlib
import sys

# command -> (module whose main(argv) runs it, or "module:function", one line for the overview)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("models.training.train", "train the per-face emotion network on FER2013 (+ FER+ votes)"),
    "train-temporal": ("models.training.train_temporal", "train the temporal head over frozen backbone features"),
    "train-decoder": ("models.training.train_decoder", "fit the saliency decoder for occlusion on the frozen backbone"),
    "evaluate": ("models.evaluation.evaluate", "score trained networks on held-out FER2013 rows"),
    "export": ("models.evaluation.export", "export trained weights to ONNX and check parity with PyTorch"),
    "publish": ("models.weights", "install a training run's export into weights/"),
    "saliency-targets": ("models.data.saliency_targets", "build face-saliency masks from MTCNN landmarks"),
    "pack-data": ("models.data.packed:main_pack", "pack FER2013 small enough to carry to a lent GPU machine"),
    "unpack-data": ("models.data.packed:main_unpack", "unpack it there, bit for bit"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m models <command> [args]  (python -m models <command> --help for its options)", ""]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(usage())
        return
    if not argv:
        print(usage(), file=sys.stderr)
        sys.exit(2)
    if argv[0] not in COMMANDS:
        print(usage(), file=sys.stderr)
        sys.exit(f"error: unknown command {argv[0]!r}; known: {', '.join(COMMANDS)}")
    target, _ = COMMANDS[argv[0]]
    module, _, function = target.partition(":")
    getattr(importlib.import_module(module), function or "main")(argv[1:])


if __name__ == "__main__":
    main()
