"""Aligned face crops of every track in a clip, cut by the live path's own parts, for the temporal head.

    python -m service track-crops --clip ../shared/data/videos/opera_crowd_1080p.mp4 --out runs/tracks/opera.npz

Why the live parts: the temporal head is trained on synthetic tracks of stills, but live it sees crops made
by this detector, this tracker and this alignment, with their real jitter, motion, compression and small
faces. ``python -m models train-temporal --video-tracks`` mixes windows of these real tracks into training, so the
same decode → MTCNN → IoU tracker → alignment must cut them. A shot cut ends every track, as live.

The file holds ``crops`` (M, S, S) uint8 grey model inputs, ``track`` (M,) ids unique in the file, in frame
order within each track, ``pts`` (M,) media seconds and ``clip``, the source's file name.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

import numpy as np

from models.device import resolve_device
from service.config import Settings
from service.ingest.source import VideoSource, source_options
from service.ingest.urls import SourcePolicy, parse_source
from service.runtime import build_detector
from service.vision.alignment import model_crop
from service.vision.shot_cuts import ShotCutDetector
from service.vision.tracker import IouTracker

CROP_SIZE = 48  # the emotion network's input side (grey)


def collect_tracks(settings: Settings, clip: Path, fps: float, min_frames: int) -> dict[str, np.ndarray]:
    """Every track of ``clip`` seen on at least ``min_frames`` analysed frames, as the arrays described above."""
    spec = parse_source(str(clip), SourcePolicy.operator())  # a bad path fails before MTCNN loads
    detector = build_detector(settings, resolve_device(settings.device))
    tracker, cuts = IouTracker(settings.track_iou, settings.track_max_age_s), ShotCutDetector()
    source = VideoSource(spec, source_options(settings, fps), threading.Event())
    by_track: dict[tuple[int, int], list[tuple[float, np.ndarray]]] = defaultdict(list)
    shot = 0
    for frame in source.frames():
        if cuts.update(frame.image, frame.pts):
            shot += 1
            tracker = IouTracker(settings.track_iou, settings.track_max_age_s)
        found = detector.detect([frame.image])[0]
        ids = tracker.update(np.array([d.box for d in found]).reshape(-1, 4), frame.pts)
        for detection, tid in zip(found, ids, strict=True):
            crop = model_crop(frame.image, detection.landmarks, CROP_SIZE, grey=True)
            by_track[(shot, tid)].append((frame.pts, crop))
    kept = [frames for frames in by_track.values() if len(frames) >= min_frames]
    if not kept:
        raise ValueError(f"{clip} has no face track of {min_frames} or more analysed frames")
    return {
        "crops": np.stack([crop for frames in kept for _, crop in frames]),
        "track": np.concatenate([np.full(len(frames), i, np.int64) for i, frames in enumerate(kept)]),
        "pts": np.array([pts for frames in kept for pts, _ in frames], np.float32),
        "clip": np.array(clip.name),
    }


def run_track_crops(settings: Settings, clip: str, out: str, fps: float, min_frames: int) -> None:
    try:
        arrays = collect_tracks(settings, Path(clip), fps, min_frames)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target, **arrays)
    lengths = np.bincount(arrays["track"])
    print(
        f"wrote {target}: {len(lengths)} tracks, {len(arrays['crops'])} crops "
        f"(frames per track: min {lengths.min()}, median {int(np.median(lengths))}, max {lengths.max()})"
    )
