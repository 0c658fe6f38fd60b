"""Device choice shared by training and the service: the same ``auto`` rule everywhere."""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; anything else is passed to torch as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def bf16_autocast(mode: str, device: torch.device) -> bool:
    """Whether to run under ``torch.autocast(device.type, torch.bfloat16)``: ``on``, ``off`` or ``auto``.

    ``auto`` takes bf16 on CUDA, and on a CPU with AMX tiles (measured on these CPUs: a training step of the
    per-face network 1.4–1.8× faster); without AMX, bf16 on CPU is emulated and slower than fp32.
    """
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"bf16 mode must be auto, on or off, got {mode!r}")
    if mode != "auto":
        return mode == "on"
    if device.type == "cuda":
        return True
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return device.type == "cpu" and amx is not None and bool(amx())
