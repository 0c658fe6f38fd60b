"""``python -m service bench-streams``: how many live streams one worker (one GPU, or these CPUs) holds.

N copies of a 1280×720, 25 fps clip (the demo programme scaled up, written once with PyAV) play as live
streams (paced to real time, looping) at ``fps`` analysed frames per second each, through one in-process
worker on a real Redis (embedded unless ``REDIS_URL`` is set). After a warm-up, for ``seconds`` it measures
decode-to-publish latency (p50, p95), the analysed rate per stream against the requested one, frames dropped,
GPU utilisation and memory (``nvidia-smi``, when there is one) and the per-stage timings of that window; then
it doubles N, until p95 passes ``max_latency_ms``, a stream gets under 90 % of its rate, or ``max_streams``.
The load governor is switched off (its target set out of reach), so overload shows as latency and lost rate
rather than being absorbed; the last N that held is the capacity. Every stream's frames of one round go
through the detector and the networks together (the worker batches across streams).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from service.analytics import DEFAULT_RULES
from service.bus.connection import connect
from service.bus.keys import Keys
from service.bus.registry import StreamRegistry
from service.commands import DEMO_PROGRAMME
from service.config import Settings
from service.runtime import build_worker

SIZE, RATE = (1280, 720), 25
HELD_SHARE = 0.9  # a stream analysed at under this share of its requested rate is not held


def _make_clip(folder: Path) -> Path:
    """The demo programme as a 1280×720, 25 fps H.264 file (what a 720p25 broadcast decodes like)."""
    out = folder / "programme-720p25.mp4"
    with av.open(str(DEMO_PROGRAMME)) as source, av.open(str(out), "w") as target:
        stream = target.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.codec_context.time_base = Fraction(1, RATE)
        for frame in source.decode(video=0):
            image = cv2.resize(frame.to_ndarray(format="rgb24"), SIZE, interpolation=cv2.INTER_LINEAR)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                target.mux(packet)
        for packet in stream.encode():
            target.mux(packet)
    return out


def _gpu_sampler(stop: threading.Event, samples: list[tuple[float, float]]) -> None:
    """Appends (utilisation %, memory MiB) from nvidia-smi once a second until ``stop``."""
    query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
    while not stop.wait(1.0):
        try:
            line = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout.splitlines()[0]
            utilisation, memory = (float(v) for v in line.split(","))
            samples.append((utilisation, memory))
        except (OSError, ValueError, IndexError, subprocess.SubprocessError):
            return


def _stage_delta(before: dict, after: dict) -> dict[str, float]:
    """Milliseconds per item of each stage over the window between two timer summaries."""
    out = {}
    for name, stats in after.items():
        items = stats["items"] - before.get(name, {}).get("items", 0)
        if items:
            out[name] = round((stats["total_ms"] - before.get(name, {}).get("total_ms", 0.0)) / items, 2)
    return out


def run_bench_streams(
    settings: Settings,
    *,
    start: int = 2,
    max_streams: int = 128,
    fps: float = 5.0,
    warmup_s: float = 8.0,
    seconds: float = 15.0,
    max_latency_ms: float = 1000.0,
    as_json: bool = False,
) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    clip = _make_clip(folder)
    settings = settings.model_copy(
        update={
            "allow_local_files": True,
            "media_dirs": [folder],
            "max_streams": max_streams,
            "max_streams_per_worker": max_streams,
            "target_latency_ms": 1e9,  # governor off: overload must show
            "key_prefix": f"{settings.key_prefix}-bench-streams",
        }
    )
    target = connect(settings)
    registry = StreamRegistry(target.client(), Keys(settings.key_prefix))
    worker = build_worker(settings, target)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="worker", daemon=True)
    thread.start()
    rows: list[dict] = []
    ids: list[str] = []
    held = 0
    rules = list(DEFAULT_RULES)
    try:
        n = start
        while n <= max_streams:
            for i in range(len(ids), n):
                info = registry.create(str(clip), f"bench {i}", fps, realtime=True, loop=True, alert_rules=rules)
                ids.append(info.id)
            row = _measure(registry, worker, ids, fps, warmup_s, seconds)
            rows.append(row)
            if not as_json:
                _print_row(row)
            if row["latency_ms"]["p95"] > max_latency_ms or row["min_rate_share"] < HELD_SHARE:
                break
            held = n
            n *= 2
    finally:
        for stream_id in ids:
            registry.request_stop(stream_id)
        stop.set()
        thread.join(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    result = {
        "device": str(worker.pipeline.classifier.device),
        "precision": worker.pipeline.classifier.precision,
        "analysis_fps": fps,
        "streams_held": held,
        "rows": rows,
    }
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{held} streams of 720p25 held at {fps:g} analysed frames/s each on {result['device']} "
            f"({result['precision']}): p95 latency under {max_latency_ms:g} ms and every stream at "
            f"{HELD_SHARE:.0%}+ of its rate"
        )
    return result


def _measure(registry: StreamRegistry, worker, ids: list[str], fps: float, warmup_s: float, seconds: float) -> dict:
    time.sleep(warmup_s)
    worker.latencies_ms = deque(maxlen=1_000_000)  # this window's frames only (the worker appends here)
    before = {stream_id: registry.get(stream_id).counters for stream_id in ids}
    stages_before = worker.pipeline.timer.summary()
    gpu: list[tuple[float, float]] = []
    sampling = threading.Event()
    sampler = threading.Thread(target=_gpu_sampler, args=(sampling, gpu), daemon=True)
    sampler.start()
    began = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - began
    sampling.set()
    after = {stream_id: registry.get(stream_id).counters for stream_id in ids}
    latencies = np.array(worker.latencies_ms) if worker.latencies_ms else np.array([np.inf])
    rates = [(after[i].frames_analysed - before[i].frames_analysed) / elapsed for i in ids]
    return {
        "streams": len(ids),
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 1),
            "p95": round(float(np.percentile(latencies, 95)), 1),
        },  # fmt: skip
        "analysed_fps_per_stream": round(float(np.mean(rates)), 2),
        "min_rate_share": round(min(rates) / fps, 3),
        "frames_dropped": sum(after[i].frames_dropped - before[i].frames_dropped for i in ids),
        "gpu_utilisation_pct": round(float(np.mean([u for u, _ in gpu])), 1) if gpu else None,
        "gpu_memory_mib": max(m for _, m in gpu) if gpu else None,
        "stages_ms_per_item": _stage_delta(stages_before, worker.pipeline.timer.summary()),
    }


def _print_row(row: dict) -> None:
    gpu = (
        "no GPU"
        if row["gpu_utilisation_pct"] is None
        else (f"GPU {row['gpu_utilisation_pct']}% {row['gpu_memory_mib']:.0f} MiB")
    )
    print(
        f"{row['streams']:>4} streams: latency p50 {row['latency_ms']['p50']} ms p95 {row['latency_ms']['p95']} ms; "
        f"{row['analysed_fps_per_stream']} analysed frames/s per stream (slowest at {row['min_rate_share']:.0%}); "
        f"{row['frames_dropped']} dropped; {gpu}",
        flush=True,
    )
    print("      stage ms per item: " + ", ".join(f"{k} {v}" for k, v in row["stages_ms_per_item"].items()), flush=True)
