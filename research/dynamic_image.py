"""Dynamic image of a face track by approximate rank pooling.

From "Weighted spatiotemporal feature and multi-task learning for masked facial expressions", §3.3.1,
Eq. 1–2.

Why: one image that summarises how a clip changes (brows raised, mouth opening) at the cost of a weighted
sum, a cheap motion-attention signal for a face track; no network and no optimisation per clip. Nothing
in the service or its training uses it yet.

    DI = Σ_t α_t I_t                                   (Eq. 1)
    α_t = 2(n − t + 1) − (n + 1)(H_n − H_{t−1})        (Eq. 2)

with t = 1..n in time order (t = 1 the oldest frame), H_t the t-th harmonic number and H_0 = 0.

Properties (proved in the tests): Σ_t α_t = n(n + 1) − (n + 1)·n = 0 for every n ≥ 1 (for n = 1 the only
weight is itself 0), so a static clip gives DI = 0 — pixels that do not move cancel and only change
survives; Σ_t α_t·t > 0, so a pixel brightening linearly over the clip gets a positive DI, a darkening one
a negative DI.

Normalisation (optional, ``normalize=True``): each clip's DI is divided by its largest absolute value, so
it lies in [−1, 1] with its sign kept (the direction of change matters) and 0 staying 0. A clip whose DI is
rounding noise (max |DI| ≤ rtol · Σ|α| · max |I|, e.g. a static clip in float32) gives all zeros instead of
noise blown up to ±1. Off by default: the raw DI keeps the magnitude of motion.
"""

from __future__ import annotations

import torch


def harmonic_numbers(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """H_0..H_n as a tensor of length n + 1 (H_0 = 0)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    reciprocals = 1.0 / torch.arange(1, n + 1, dtype=dtype)
    return torch.cat([torch.zeros(1, dtype=dtype), torch.cumsum(reciprocals, 0)])


def rank_pooling_weights(n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Eq. 2: α_1..α_n, shape (n,); computed in float64 and cast, so long clips stay exact to rounding."""
    if n < 1:
        raise ValueError(f"a clip needs at least one frame, got n={n}")
    h = harmonic_numbers(n)
    t = torch.arange(1, n + 1, dtype=torch.float64)
    alpha = 2.0 * (n - t + 1.0) - (n + 1.0) * (h[n] - h[:-1])  # h[:-1][t-1] = H_{t-1}
    return alpha.to(dtype)


def dynamic_image(frames: torch.Tensor, normalize: bool = False, rtol: float = 1e-5) -> torch.Tensor:
    """Eq. 1: frames (N, T, C, H, W) in time order -> dynamic images (N, C, H, W).

    With ``normalize`` each clip is scaled into [−1, 1] by its max |DI| (see the module docstring).
    """
    if frames.dim() != 5:
        raise ValueError(f"expected frames (N, T, C, H, W), got shape {tuple(frames.shape)}")
    alpha = rank_pooling_weights(frames.shape[1], dtype=frames.dtype).to(frames.device)
    di = torch.einsum("t,ntchw->nchw", alpha, frames)
    if normalize:
        peak = di.abs().amax(dim=(1, 2, 3), keepdim=True)
        scale = alpha.abs().sum() * frames.abs().amax(dim=(1, 2, 3, 4)).reshape(-1, 1, 1, 1)
        noise = peak <= rtol * scale
        di = torch.where(noise, torch.zeros_like(di), di / torch.where(noise, torch.ones_like(peak), peak))
    return di
