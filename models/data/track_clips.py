"""Synthetic face tracks built from labelled stills, for training and checking the temporal head.

There is no labelled face video to train on, so clips are assembled from a bank of stills, each rendered
in several variants (``VARIANTS``: clean, jittered as a tracker would crop it, blurred, occluded, degraded
like a small distant face). A clip is one or two *segments*; a segment is one expression class shown by a
small pool of stills of that class (1–3: a real face changes from frame to frame, and FER stills of one
class still disagree with the per-frame model, which is exactly the flicker the head must learn to
ignore). With ``change_prob`` a second segment of another class starts part-way: a real change the head
must follow. Runs of corrupted variants (blur, occlusion, degradation) are dropped into segments: the head
must hold its label through them. A share of clips are new tracks, left-padded by repeating their first
frame, as ``pad_window`` does live.

Pure numpy: the sampler returns, per clip, which bank entry each step shows and the per-step segment
target; the trainer looks the features up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VARIANTS: tuple[str, ...] = ("clean", "jitter", "jitter", "blur", "occluded", "degraded")
MILD = tuple(i for i, name in enumerate(VARIANTS) if name in ("clean", "jitter"))
CORRUPT = tuple(i for i, name in enumerate(VARIANTS) if name not in ("clean", "jitter"))


@dataclass(frozen=True)
class ClipOptions:
    length: int = 16
    change_prob: float = 0.5
    min_change_step: int = 2
    corrupt_prob: float = 0.6
    max_corrupt_run: int = 4
    new_track_prob: float = 0.25
    max_pool: int = 3
    stay_prob: float = 0.7  # chance a frame shows the same still as the previous frame of its segment


@dataclass(frozen=True)
class Clip:
    stills: np.ndarray  # (S,) still index per step
    variants: np.ndarray  # (S,) variant index per step
    segment: np.ndarray  # (S,) 0 or 1: which segment each step belongs to
    pools: tuple[np.ndarray, ...]  # the stills of each segment
    classes: tuple[int, ...]  # the class of each segment
    change_step: int | None  # first step of the second segment


def sample_clip(labels: np.ndarray, by_class: list[np.ndarray], options: ClipOptions, rng: np.random.Generator) -> Clip:
    """One synthetic clip over a bank whose still i has class ``labels[i]`` (``by_class[c]``: stills of c)."""
    s = options.length
    classes = [c for c in range(len(by_class)) if len(by_class[c])]
    first = int(rng.choice(classes))
    segments = [first]
    change_step = None
    if rng.random() < options.change_prob and len(classes) > 1 and s > options.min_change_step:
        segments.append(int(rng.choice([c for c in classes if c != first])))
        change_step = int(rng.integers(options.min_change_step, s))
    pools = tuple(
        rng.choice(by_class[c], size=min(int(rng.integers(1, options.max_pool + 1)), len(by_class[c])), replace=False)
        for c in segments
    )
    segment = np.zeros(s, np.int64)
    if change_step is not None:
        segment[change_step:] = 1
    stills = np.empty(s, np.int64)
    for t in range(s):
        pool = pools[segment[t]]
        same_segment = t > 0 and segment[t - 1] == segment[t]
        stills[t] = stills[t - 1] if same_segment and rng.random() < options.stay_prob else rng.choice(pool)
    variants = sample_variants(s, options, rng)
    if change_step is None and rng.random() < options.new_track_prob:
        seen = int(rng.integers(1, s))  # a track seen for only `seen` frames, left-padded like pad_window
        stills[: s - seen] = stills[s - seen]
        variants[: s - seen] = variants[s - seen]
    return Clip(stills, variants, segment, pools, tuple(segments), change_step)


def sample_variants(length: int, options: ClipOptions, rng: np.random.Generator) -> np.ndarray:
    """(length,) variant per step: mild ones, and with ``corrupt_prob`` one run of corrupted ones."""
    variants = rng.choice(MILD, size=length)
    if rng.random() < options.corrupt_prob:
        run = int(rng.integers(1, options.max_corrupt_run + 1))
        start = int(rng.integers(0, max(1, length - run + 1)))
        variants[start : start + run] = rng.choice(CORRUPT, size=len(variants[start : start + run]))
    return variants


def track_window(length: int, end: int, window: int) -> np.ndarray:
    """Frame indices of a real track's window ending at frame ``end``, left-padded like ``pad_window``."""
    if not 0 <= end < length:
        raise ValueError(f"end {end} outside a track of {length} frames")
    frames = np.arange(max(0, end - window + 1), end + 1)
    return np.concatenate([np.full(window - len(frames), frames[0]), frames])


def flips(labels: np.ndarray, keep: np.ndarray | None = None) -> int:
    """Label changes between consecutive steps; ``keep`` (S-1,) bool counts only the pairs marked True."""
    changed = labels[1:] != labels[:-1]
    if keep is not None:
        changed &= keep
    return int(changed.sum())
