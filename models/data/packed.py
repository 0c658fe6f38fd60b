"""FER2013 packed small enough to travel to a lent GPU machine, and unpacked there bit for bit.

A device call carries at most 64 MiB of working tree, and the shared npz is 70 MB. Faces are smooth, so
each pixel is replaced by its difference from the LOCO-I median predictor of its left, upper and
upper-left neighbours (the predictor of lossless JPEG-LS), and the residuals are xz-compressed: about 0.66
of the raw bytes, with nothing but numpy and the standard library needed to unpack.

    python -m models pack-data --data ../shared/data/fer2013_trainval.npz --out runs/device/fer
    python -m models unpack-data --packed runs/device/fer --out /tmp/fer2013_trainval.npz
"""

from __future__ import annotations

import argparse
import lzma
from pathlib import Path

import numpy as np

_IMAGES = "images.med.xz"
_REST = "rest.npz"


def _neighbours(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = images.astype(np.int16)
    left = np.pad(a, ((0, 0), (0, 0), (1, 0)))[:, :, :-1]
    up = np.pad(a, ((0, 0), (1, 0), (0, 0)))[:, :-1, :]
    up_left = np.pad(a, ((0, 0), (1, 0), (1, 0)))[:, :-1, :-1]
    return left, up, up_left


def _median_prediction(left: np.ndarray, up: np.ndarray, up_left: np.ndarray) -> np.ndarray:
    high, low = np.maximum(left, up), np.minimum(left, up)
    return np.where(up_left >= high, low, np.where(up_left <= low, high, left + up - up_left))


def residuals(images: np.ndarray) -> np.ndarray:
    """(N, H, W) uint8 -> the same shape of uint8 residuals (pixel minus prediction, modulo 256)."""
    return ((images.astype(np.int16) - _median_prediction(*_neighbours(images))) % 256).astype(np.uint8)


def restore(res: np.ndarray) -> np.ndarray:
    """The inverse of ``residuals``: anti-diagonal by anti-diagonal, each one vectorised over all faces."""
    n, height, width = res.shape
    out = np.zeros((n, height + 1, width + 1), np.int16)  # a zero border stands for the padding
    for k in range(height + width - 1):
        rows = np.arange(max(0, k - width + 1), min(height, k + 1))
        cols = k - rows
        left, up, up_left = out[:, rows + 1, cols], out[:, rows, cols + 1], out[:, rows, cols]
        out[:, rows + 1, cols + 1] = (_median_prediction(left, up, up_left) + res[:, rows, cols]) % 256
    return out[:, 1:, 1:].astype(np.uint8)


def pack(data: Path, out: Path) -> int:
    """Writes ``out``/images.med.xz and ``out``/rest.npz; returns the bytes written."""
    arrays = dict(np.load(data))
    images = arrays.pop("images")
    out.mkdir(parents=True, exist_ok=True)
    header = np.array(images.shape, np.int32).tobytes()
    (out / _IMAGES).write_bytes(lzma.compress(header + residuals(images).tobytes(), preset=9 | lzma.PRESET_EXTREME))
    np.savez_compressed(out / _REST, **arrays)
    return sum(path.stat().st_size for path in (out / _IMAGES, out / _REST))


def unpack(packed: Path, out: Path) -> None:
    """Rebuilds the npz that ``pack`` read, array for array."""
    raw = lzma.decompress((packed / _IMAGES).read_bytes())
    shape = tuple(np.frombuffer(raw[:12], np.int32))
    images = restore(np.frombuffer(raw[12:], np.uint8).reshape(shape))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, images=images, **dict(np.load(packed / _REST)))


def main_pack(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models pack-data", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="fer2013_trainval.npz")
    parser.add_argument("--out", type=Path, default=Path("runs/device/fer"))
    args = parser.parse_args(argv)
    size = pack(args.data, args.out)
    print(f"packed {args.data} into {args.out}: {size / 1e6:.1f} MB")


def main_unpack(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models unpack-data", description=__doc__)
    parser.add_argument("--packed", type=Path, required=True, help="a folder written by pack-data")
    parser.add_argument("--out", type=Path, required=True, help="npz to write")
    args = parser.parse_args(argv)
    unpack(args.packed, args.out)
    print(f"unpacked {args.packed} into {args.out}")
