"""Stochastic weight averaging (SWA, Izmailov et al. 2018) over the last epochs of a training stage.

Why: at a constant, moderate learning rate SGD's iterates wander around a wide minimum; their average lies
nearer its centre and generalises better than any single iterate, at no cost at inference (it is one network
of the same shape). The averaged weights never ran forward during training, so their BatchNorm statistics
belong to no iterate: they are recomputed from un-augmented training faces (the test distribution) before the
average is scored or exported. The averaging itself is ``torch.optim.swa_utils.AveragedModel``; this module adds what
our faces need for the statistics (channels-last batches on the network's device).
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, update_bn


@torch.no_grad()
def refresh_batchnorm(average: AveragedModel, faces: torch.Tensor, batch_size: int = 512) -> None:
    """Re-estimates every BatchNorm's running mean/variance of ``average`` from ``faces``.

    The new statistics are the mean of the batches' own (momentum off), so stale ones leave no trace.

    ``faces`` (N, C, H, W) in [0, 1], un-augmented; batches go to the averaged network's device in channels-last
    layout, the layout it trains in.
    """
    if len(faces) == 0:
        raise ValueError("refreshing BatchNorm statistics needs at least one face")
    device = next(average.module.parameters()).device
    batches = (
        faces[start : start + batch_size].to(device).contiguous(memory_format=torch.channels_last)
        for start in range(0, len(faces), batch_size)
    )
    update_bn(batches, average)
