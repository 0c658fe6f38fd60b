"""``python -m service eval-video --clip PATH``: how the model behaves over time on one clip.

Prints, for the clip's main face track (the one seen in most analysed frames), the label of every analysed
frame, the label flip rate (share of consecutive analysed frames whose label differs) and, per second of
media time, the polarity mix. Stability matters as much as accuracy for a live timeline. The flip rate of
the per-frame model alone (``frame_label``, before the temporal head) is printed beside it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from pathlib import Path

from models.evaluation.metrics import flip_rate
from service.config import Settings
from service.ingest.source import VideoSource, source_options
from service.ingest.urls import SourcePolicy, parse_source
from service.pipeline.analysis import analyse, new_stream_state
from service.runtime import build_pipeline


def evaluate_clip(settings: Settings, clip: Path, fps: float) -> dict:
    spec = parse_source(str(clip), SourcePolicy.operator())  # a bad path fails before any model loads
    pipeline = build_pipeline(settings)
    state = new_stream_state(settings, pipeline, "eval")
    source = VideoSource(spec, source_options(settings, fps), threading.Event())
    faces: list[dict] = []
    frames = 0
    for frame in source.frames():
        frames += 1
        messages = analyse(pipeline, [(state, frame)])[0].messages
        faces.extend(json.loads(m.body) for m in messages if m.type == "face")
    tracks = Counter(f["track_id"] for f in faces)
    main = [f for f in faces if tracks and f["track_id"] == tracks.most_common(1)[0][0]]
    labels = [f["label"] for f in main]
    per_second: dict[int, Counter] = defaultdict(Counter)
    for face in main:
        per_second[int(face["pts"])][face["polarity"]] += 1
    return {
        "clip": clip.name,
        "analysis_fps": fps,
        "frames": frames,
        "tracks": len(tracks),
        "main_track_frames": len(main),
        "flip_rate": round(flip_rate(labels), 4),
        "per_frame_flip_rate": round(flip_rate([f["frame_label"] for f in main]), 4),
        "labels": [[round(f["pts"], 2), f["label"], round(f["confidence"], 3)] for f in main],
        "per_second_polarity": {
            second: {p: round(c / sum(counts.values()), 3) for p, c in sorted(counts.items())}
            for second, counts in sorted(per_second.items())
        },
    }


def run_eval_video(settings: Settings, clip: str, fps: float, as_json: bool) -> dict:
    result = evaluate_clip(settings, Path(clip), fps)
    if as_json:
        print(json.dumps(result, indent=2))
        return result
    print(
        f"{result['clip']}: {result['frames']} analysed frames at {fps} fps, {result['tracks']} tracks; "
        f"main track in {result['main_track_frames']} frames"
    )
    print("per-frame labels (media s, label, confidence):")
    print("  " + "  ".join(f"{pts:.1f}:{label}({conf:.2f})" for pts, label, conf in result["labels"]))
    print(f"label flip rate: {result['flip_rate']:.4f} (per-frame model alone: {result['per_frame_flip_rate']:.4f})")
    print("per-second polarity:")
    for second, mix in result["per_second_polarity"].items():
        print(f"  {second:>4d}s  " + "  ".join(f"{p}={v:.2f}" for p, v in mix.items()))
    return result
