"""``python -m service bench``: the whole pipeline on a clip, with throughput and per-stage latency.

Stages: decode (PyAV decode + sampling + conversion of sampled frames), detect (MTCNN), track (shot-cut
detector and IoU tracker), align, infer
(emotion backbone and heads), temporal (the temporal head over each track's cached window, and the
label hold), analytics (windows, alerts, messages), publish (Redis XADD + PUBLISH), plus the
backbone's cost per face at batch 8 and the latency from a frame leaving the decoder to its publication.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import torch

from service.bus.connection import connect
from service.bus.keys import Keys
from service.bus.publisher import Publisher
from service.commands import DEMO_CLIP
from service.config import Settings
from service.ingest.source import SourceOptions, VideoSource
from service.ingest.urls import parse_source
from service.runtime import build_analyzer
from service.worker.timing import StageTimer


def _backbone_ms_per_face(analyzer, batch: int = 8, rounds: int = 20) -> float:
    model = analyzer.classifier.model
    size = model.config.input_size
    faces = torch.rand(batch, model.config.in_channels, size, size, device=analyzer.classifier.device)
    with torch.inference_mode():
        for _ in range(3):
            model.embed(faces)
        if faces.is_cuda:
            torch.cuda.synchronize()
        began = time.perf_counter()
        for _ in range(rounds):
            model.embed(faces)
        if faces.is_cuda:
            torch.cuda.synchronize()
    return (time.perf_counter() - began) * 1000 / (rounds * batch)


def run_bench(settings: Settings, clip: str | None, fps: float, repeat: int, as_json: bool) -> dict:
    path = Path(clip) if clip else DEMO_CLIP
    spec = parse_source(str(path), allow_local_files=True)
    timer = StageTimer()
    analyzer = build_analyzer(settings, timer)
    target = connect(settings)
    publisher = Publisher(target.client(), Keys(f"{settings.key_prefix}-bench"), settings.events_maxlen)
    latencies: list[float] = []
    frames = faces = 0
    began = time.perf_counter()
    for _ in range(repeat):
        state = analyzer.new_stream("bench")
        source = VideoSource(
            spec, SourceOptions(analysis_fps=fps, max_frame_side=settings.max_frame_side), threading.Event()
        )
        iterator = source.frames()
        while True:
            with timer.stage("decode"):
                frame = next(iterator, None)
            if frame is None:
                break
            messages = analyzer.analyze([(state, frame)])["bench"]
            with timer.stage("publish", items=len(messages)):
                publisher.emit("bench", messages)
            latencies.append((time.monotonic() - frame.decoded_at) * 1000)
            frames += 1
            faces += sum(m["type"] == "face" for m in messages)
    elapsed = time.perf_counter() - began
    target.client().delete(publisher.keys.events("bench"))
    result = {
        "clip": path.name,
        "device": str(analyzer.classifier.device),
        "analysis_fps": fps,
        "frames": frames,
        "faces": faces,
        "frames_per_s": round(frames / elapsed, 2),
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 1),
            "p95": round(float(np.percentile(latencies, 95)), 1),
        }
        if latencies
        else None,
        "stages": timer.summary(),
        "backbone_ms_per_face_batch8": round(_backbone_ms_per_face(analyzer), 3),
    }
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        latency = result["latency_ms"] or {"p50": "-", "p95": "-"}
        print(
            f"clip {result['clip']} on {result['device']}: {frames} frames ({faces} faces) at analysis fps {fps}, "
            f"{result['frames_per_s']} frames/s end to end; latency decode->published "
            f"p50 {latency['p50']} ms, p95 {latency['p95']} ms"
        )
        print(f"{'stage':<10} {'calls':>6} {'items':>6} {'ms/call':>9} {'ms/item':>9}")
        for name in ("decode", "detect", "track", "align", "infer", "temporal", "analytics", "publish"):
            s = result["stages"].get(name)
            if s:
                print(f"{name:<10} {s['calls']:>6} {s['items']:>6} {s['ms_per_call']:>9.2f} {s['ms_per_item']:>9.2f}")
        print(f"backbone per face at batch 8: {result['backbone_ms_per_face_batch8']:.2f} ms")
    return result
