"""FER2013 (+ FER+ votes) loading, training targets and batch augmentation.

Targets blend the original one-hot label with the FER+ crowd-vote distribution: the original labels
are what the project is scored on, the votes soften their noise. Augmentation runs on whole batches
with tensor ops (affine warp, flip, photometric jitter, erasing) so it costs little next to the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# FER+ vote columns (neutral, happiness, surprise, sadness, anger, disgust, fear) -> FER2013 class index.
FERPLUS_TO_FER = {0: 6, 1: 3, 2: 5, 3: 4, 4: 0, 5: 1, 6: 2}


@dataclass(frozen=True)
class FerSplit:
    images: torch.Tensor  # (N, 1, 48, 48) float in [0, 1]
    labels: torch.Tensor  # (N,) original FER2013 labels
    votes: torch.Tensor  # (N, 7) FER+ vote distribution in FER class order (rows may be all zero)
    ferplus_majority: torch.Tensor  # (N,) FER+ majority class in FER order, -1 where unusable


def _ferplus(votes_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    votes = np.zeros((len(votes_raw), 7), dtype=np.float32)
    for col, fer_index in FERPLUS_TO_FER.items():
        votes[:, fer_index] = votes_raw[:, col]
    totals = votes.sum(axis=1, keepdims=True)
    dist = np.divide(votes, totals, out=np.zeros_like(votes), where=totals > 0)
    majority = votes.argmax(axis=1)
    # Unusable when the plurality of all ten columns is contempt / unknown / not-a-face.
    usable = votes_raw.argmax(axis=1) < 7
    return dist, np.where(usable & (totals[:, 0] > 0), majority, -1)


def load_split(path: Path, usage: str) -> FerSplit:
    """Loads the rows of one ``usage`` ("Training" or "PublicTest") from the shared npz."""
    data = np.load(path)
    rows = data["usage"] == usage
    if not rows.any():
        raise ValueError(f"{path} has no rows with usage {usage!r}")
    images = torch.from_numpy(data["images"][rows]).float().div_(255.0).unsqueeze(1)
    labels = torch.from_numpy(data["labels"][rows].astype(np.int64))
    if "ferplus_votes" in data.files:
        dist, majority = _ferplus(data["ferplus_votes"][rows])
    else:
        dist, majority = np.zeros((int(rows.sum()), 7), np.float32), np.full(int(rows.sum()), -1)
    return FerSplit(images, labels, torch.from_numpy(dist), torch.from_numpy(majority.astype(np.int64)))


def soft_targets(labels: torch.Tensor, votes: torch.Tensor, vote_weight: float, smoothing: float) -> torch.Tensor:
    """(1 - w)·smoothed one-hot(original) + w·FER+ distribution (falls back to one-hot without votes)."""
    num_classes = votes.shape[1]
    one_hot = F.one_hot(labels, num_classes).float()
    one_hot = one_hot * (1 - smoothing) + smoothing / num_classes
    has_votes = votes.sum(dim=1, keepdim=True) > 0
    mixed = (1 - vote_weight) * one_hot + vote_weight * votes
    return torch.where(has_votes, mixed, one_hot)


def augment(
    images: torch.Tensor, generator: torch.Generator, masks: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random affine (±12°, ×0.88–1.12, ±10 % shift: the crops), h-flip, contrast/brightness, erasing.

    ``masks`` (M, 1, H, W) saliency targets of the first M ≤ N images, when given, get the same geometric
    warp as their images (and no photometric change or erasing: an occluded face is still a face).
    Returns (images, masks or None), on the images' device. The random draws come from the CPU
    ``generator`` (a few numbers per face, the same sequence on every device); the pixel work runs where the
    images are, so a batch on the GPU is augmented on the GPU.
    """
    n, device = images.shape[0], images.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = uniform(-12, 12) * math.pi / 180
    scale = uniform(0.88, 1.12)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, uniform(-0.1, 0.1)], dim=1),
            torch.stack([sin * flip, cos, uniform(-0.1, 0.1)], dim=1),
        ],
        dim=1,
    ).to(device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    warped_masks = None
    if masks is not None:
        warped_masks = F.grid_sample(
            masks, grid[: len(masks)], mode="bilinear", padding_mode="zeros", align_corners=False
        )
    contrast = uniform(0.7, 1.3)[:, None, None, None].to(device, images.dtype)
    brightness = uniform(-0.12, 0.12)[:, None, None, None].to(device, images.dtype)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * contrast + mean + brightness).clamp_(0, 1)
    return _erase(out, generator), warped_masks


def _erase(images: torch.Tensor, generator: torch.Generator, share: float = 0.4) -> torch.Tensor:
    """Fills one random rectangle (1/8 to 1/3 of the side) of ``share`` of the faces with a random grey.

    The rectangles are drawn one face at a time on the CPU generator and painted in one masked write, so
    the GPU sees a single operation whatever the batch size.
    """
    n, size = images.shape[0], images.shape[-1]
    erase = torch.rand(n, generator=generator) < share
    rows = torch.nonzero(erase).flatten().tolist()
    if not rows:
        return images
    boxes = []
    for _ in rows:
        h, w = (torch.randint(size // 8, size // 3, (2,), generator=generator)).tolist()
        y = torch.randint(0, size - h, (1,), generator=generator).item()
        x = torch.randint(0, size - w, (1,), generator=generator).item()
        boxes.append((y, y + h, x, x + w, torch.rand(1, generator=generator).item()))
    y0, y1, x0, x1, grey = (torch.tensor(column, device=images.device) for column in zip(*boxes, strict=True))
    span = torch.arange(size, device=images.device)
    inside = ((span >= y0[:, None]) & (span < y1[:, None]))[:, :, None] & (
        (span >= x0[:, None]) & (span < x1[:, None])
    )[:, None, :]
    index = torch.tensor(rows, device=images.device)
    patch = torch.where(inside[:, None], grey[:, None, None, None].to(images.dtype), images[index])
    images[index] = patch
    return images
