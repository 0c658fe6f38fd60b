"""Track sampling: synthetic segments, changes, corrupted runs, new-track padding; windows of real tracks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.data.track_clips import (
    CORRUPT,
    MILD,
    VARIANTS,
    ClipOptions,
    flips,
    sample_clip,
    sample_variants,
    track_window,
)
from models.training.train_temporal import CLEAN, TrackBatcher

LABELS = np.repeat(np.arange(7), 20)
BY_CLASS = [np.flatnonzero(np.equal(LABELS, c)) for c in range(7)]


def _clips(options: ClipOptions, n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [sample_clip(LABELS, BY_CLASS, options, rng) for _ in range(n)]


def test_every_step_shows_a_still_of_its_segment_class() -> None:
    for clip in _clips(ClipOptions(length=12)):
        classes = np.array(clip.classes)[clip.segment]
        assert np.array_equal(LABELS[clip.stills], classes)
        for pool, cls in zip(clip.pools, clip.classes, strict=True):
            assert (LABELS[pool] == cls).all() and 1 <= len(pool) <= 3


def test_changes_start_a_second_segment_of_another_class() -> None:
    clips = _clips(ClipOptions(length=12, change_prob=0.5, min_change_step=3))
    changed = [c for c in clips if c.change_step is not None]
    assert 0.35 < len(changed) / len(clips) < 0.65
    for clip in changed:
        assert clip.classes[0] != clip.classes[1]
        assert 3 <= clip.change_step < 12
        assert (clip.segment[: clip.change_step] == 0).all() and (clip.segment[clip.change_step :] == 1).all()
    for clip in clips:
        if clip.change_step is None:
            assert (clip.segment == 0).all() and len(clip.classes) == 1


def test_corrupted_frames_come_in_one_short_run() -> None:
    options = ClipOptions(length=16, corrupt_prob=1.0, max_corrupt_run=4, new_track_prob=0.0)
    assert set(MILD) | set(CORRUPT) == set(range(len(VARIANTS))) and not set(MILD) & set(CORRUPT)
    for clip in _clips(options):
        bad = np.flatnonzero(np.isin(clip.variants, CORRUPT))
        assert 1 <= len(bad) <= 4
        assert bad[-1] - bad[0] == len(bad) - 1  # contiguous


def test_new_tracks_are_left_padded_with_their_first_frame() -> None:
    options = ClipOptions(length=10, change_prob=0.0, new_track_prob=1.0, corrupt_prob=0.0, stay_prob=0.0)
    padded = 0
    for clip in _clips(options, n=100):
        first = np.flatnonzero(
            (clip.stills != clip.stills[0]) | (clip.variants != clip.variants[0])
        )  # first step that differs from the padding
        start = first[0] - 1 if len(first) else 9
        assert (clip.stills[: start + 1] == clip.stills[0]).all()
        padded += start > 0
    assert padded > 50


def test_flips_counts_changes_only_where_kept() -> None:
    labels = np.array([1, 1, 2, 2, 3, 1])
    assert flips(labels) == 3
    assert flips(labels, keep=np.array([True, True, True, False, True])) == 2
    assert flips(np.array([4])) == 0


def test_track_window_left_pads_with_the_oldest_frame_like_pad_window() -> None:
    assert track_window(10, 9, 4).tolist() == [6, 7, 8, 9]
    assert track_window(10, 2, 5).tolist() == [0, 0, 0, 1, 2]
    assert track_window(1, 0, 3).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="outside"):
        track_window(5, 5, 3)


def test_sampled_variants_are_mild_with_at_most_one_corrupted_run() -> None:
    rng = np.random.default_rng(3)
    options = ClipOptions(length=16, corrupt_prob=0.5, max_corrupt_run=4)
    runs = []
    for _ in range(400):
        corrupt = np.isin(sample_variants(16, options, rng), CORRUPT)
        starts = np.flatnonzero(corrupt[1:] & ~corrupt[:-1]).size + int(corrupt[0])
        assert starts <= 1 and corrupt.sum() <= 4
        runs.append(corrupt.any())
    assert 0.4 < np.mean(runs) < 0.6


def test_real_track_windows_stay_in_one_track_and_target_the_clean_mean() -> None:
    track = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    m, k = len(track), len(VARIANTS)
    maps = torch.arange(m, dtype=torch.float16)[:, None, None, None, None].expand(m, k, 2, 1, 1).clone()
    probs = torch.zeros(m, k, 7)
    probs[:, :, 6] = 1.0  # every corrupted render reads neutral ...
    probs[:5, CLEAN] = torch.eye(7)[3]  # ... the clean frames of track 0 read happy, of track 1 sad
    probs[5:, CLEAN] = torch.eye(7)[4]
    batch = TrackBatcher(maps, probs, track).batch(200, ClipOptions(length=4), np.random.default_rng(0))
    rows = batch["features"][:, :, 0, 0, 0]  # the frame index each step shows
    assert batch["features"].shape == (200, 4, 2, 1, 1)
    for steps, cls in zip(rows, batch["segment_class"][:, 0], strict=True):
        in_track = track[steps.long().numpy()]
        assert (in_track == in_track[0]).all() and (np.diff(steps.numpy()) >= 0).all()
        assert cls == (3 if in_track[0] == 0 else 4)
    assert torch.allclose(batch["target"].sum(-1), torch.ones(200, 4))
    assert not batch["changed"].any() and (batch["segment"] == 0).all()
