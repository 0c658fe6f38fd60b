"""``python -m service bench-streams``: how many live streams one GPU (or these CPUs) holds, and with how many workers.

N copies of a 1280×720, 25 fps clip (the demo programme scaled up, written once with PyAV) play as live
streams (paced to real time, looping) at ``fps`` analysed frames per second each, through ``workers`` worker
processes (``python -m service worker``, the command compose runs) sharing the machine's device, on a real
Redis (embedded unless ``REDIS_URL`` is set). Several workers on one GPU is how a GPU host is meant to be
filled: each worker is one Python loop that batches its streams' frames through the detector and the
networks, and the CPU work around the device (cut checks, alignment, identity chips, analytics, publishing)
runs in that one loop, so one loop saturates long before an H100 does. The workers share new streams evenly
(``service.worker.leases``). After a warm-up, for ``seconds`` it measures decode-to-publish latency (p50,
p95, from the latency histograms the workers' heartbeats carry), the analysed rate per stream against the
requested one, frames dropped, GPU utilisation and memory (``nvidia-smi``, when there is one) and the
per-stage timings of that window; then it doubles N, until p95 passes ``max_latency_ms``, a stream gets
under 90 % of its rate, or ``max_streams``. The load governor is switched off (its target set out of reach),
so overload shows as latency and lost rate rather than being absorbed; the last N that held is the capacity.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
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
from service.worker.timing import LATENCY_BOUNDS_MS, histogram_quantile

SIZE, RATE = (1280, 720), 25
HELD_SHARE = 0.9  # a stream analysed at under this share of its requested rate is not held
WORKER_START_S = 300.0  # loading the models (and CUDA's first kernels) in every worker
Workers = list[tuple[subprocess.Popen, Path]]  # each worker process and its log


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


def _stage_delta(before: dict[str, dict], after: dict[str, dict]) -> dict[str, float]:
    """Milliseconds per item of each stage over the window between two heartbeats of every worker."""
    total_ms: dict[str, float] = {}
    items: dict[str, int] = {}
    for worker, info in after.items():
        then = before.get(worker, {}).get("stages", {})
        for name, stats in info.get("stages", {}).items():
            total_ms[name] = total_ms.get(name, 0.0) + stats["total_ms"] - then.get(name, {}).get("total_ms", 0.0)
            items[name] = items.get(name, 0) + stats["items"] - then.get(name, {}).get("items", 0)
    return {name: round(total_ms[name] / items[name], 2) for name in total_ms if items[name] > 0}


def run_bench_streams(
    settings: Settings,
    *,
    start: int = 2,
    max_streams: int = 128,
    fps: float = 5.0,
    workers: int = 1,
    warmup_s: float = 8.0,
    seconds: float = 15.0,
    max_latency_ms: float = 1000.0,
    as_json: bool = False,
) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    clip = _make_clip(folder)
    target = connect(settings)
    settings = settings.model_copy(
        update={
            "redis_url": target.url,
            "allow_local_files": True,
            "media_dirs": [folder],
            "max_streams": max_streams,
            "max_streams_per_worker": -(-max_streams // workers),
            "target_latency_ms": 1e9,  # governor off: overload must show
            "key_prefix": f"{settings.key_prefix}-bench-streams-{uuid.uuid4().hex[:6]}",
            "worker_id": None,  # each worker names itself
        }
    )
    registry = StreamRegistry(target.client(), Keys(settings.key_prefix))
    processes = [_spawn_worker(settings, workers, folder / f"worker-{i}.log") for i in range(workers)]
    rows: list[dict] = []
    ids: list[str] = []
    held = 0
    rules = list(DEFAULT_RULES)
    try:
        _wait_for_workers(registry, processes, workers)
        n = start
        while n <= max_streams:
            for i in range(len(ids), n):
                info = registry.create(str(clip), f"bench {i}", fps, realtime=True, loop=True, alert_rules=rules)
                ids.append(info.id)
            row = _measure(registry, processes, ids, fps, warmup_s, seconds)
            rows.append(row)
            if not as_json:
                _print_row(row)
            if row["latency_ms"]["p95"] > max_latency_ms or row["min_rate_share"] < HELD_SHARE:
                break
            held = n
            n *= 2
        first = next(iter(registry.workers().values()), {})
    finally:
        for stream_id in ids:
            registry.request_stop(stream_id)
        _stop_workers(processes)
        client = target.client()
        keys = list(client.scan_iter(f"{settings.key_prefix}:*"))
        if keys:
            client.delete(*keys)
        shutil.rmtree(folder, ignore_errors=True)
    result = {
        "device": first.get("device"),
        "precision": first.get("precision"),
        "workers": workers,
        "analysis_fps": fps,
        "streams_held": held,
        "rows": rows,
    }
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{held} streams of 720p25 held at {fps:g} analysed frames/s each by {workers} worker(s) on "
            f"{result['device']} ({result['precision']}): p95 latency under {max_latency_ms:g} ms and every stream "
            f"at {HELD_SHARE:.0%}+ of its rate"
        )
    return result


def _spawn_worker(settings: Settings, workers: int, log_path: Path) -> tuple[subprocess.Popen, Path]:
    """One ``python -m service worker`` with these settings; torch gets an equal share of the cores."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOTION_") and k != "REDIS_URL"}
    env.update(settings.as_env())
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "service", "worker"], env=env, stdout=log, stderr=log)
    return process, log_path


def _check_alive(processes: Workers) -> None:
    for process, log_path in processes:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"a worker exited with code {process.returncode}; its log ends:\n{tail}")


def _wait_for_workers(registry: StreamRegistry, processes: Workers, count: int) -> None:
    deadline = time.monotonic() + WORKER_START_S
    while len(registry.workers()) < count:
        _check_alive(processes)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} workers did not all start within {WORKER_START_S:g} s")
        time.sleep(0.5)


def _stop_workers(processes: Workers) -> None:
    for process, _ in processes:
        process.terminate()  # SIGTERM: the worker stops its streams and releases their leases
    for process, _ in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _measure(
    registry: StreamRegistry, processes: Workers, ids: list[str], fps: float, warmup_s: float,
    seconds: float,
) -> dict:  # fmt: skip
    time.sleep(warmup_s)
    _check_alive(processes)
    before = {stream_id: registry.get(stream_id).counters for stream_id in ids}
    workers_before = registry.workers()
    gpu: list[tuple[float, float]] = []
    sampling = threading.Event()
    sampler = threading.Thread(target=_gpu_sampler, args=(sampling, gpu), daemon=True)
    sampler.start()
    began = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - began
    sampling.set()
    _check_alive(processes)
    after = {stream_id: registry.get(stream_id).counters for stream_id in ids}
    workers_after = registry.workers()
    bounds, counts = _latency_window(workers_before, workers_after)
    quantile = {q: histogram_quantile(bounds, counts, q) for q in (0.5, 0.95)}
    rates = [(after[i].frames_analysed - before[i].frames_analysed) / elapsed for i in ids]
    return {
        "streams": len(ids),
        "streams_per_worker": sorted(len(info.get("streams", [])) for info in workers_after.values()),
        "latency_ms": {
            "p50": round(quantile[0.5], 1) if quantile[0.5] is not None else math.inf,
            "p95": round(quantile[0.95], 1) if quantile[0.95] is not None else math.inf,
        },
        "analysed_fps_per_stream": round(float(np.mean(rates)), 2),
        "min_rate_share": round(min(rates) / fps, 3),
        "frames_dropped": sum(after[i].frames_dropped - before[i].frames_dropped for i in ids),
        "gpu_utilisation_pct": round(float(np.mean([u for u, _ in gpu])), 1) if gpu else None,
        "gpu_memory_mib": max(m for _, m in gpu) if gpu else None,
        "stages_ms_per_item": _stage_delta(workers_before, workers_after),
    }


def _latency_window(before: dict[str, dict], after: dict[str, dict]) -> tuple[list[float], list[int]]:
    """Bucket bounds and the counts every worker added to its latency histogram between two heartbeats."""
    bounds: list[float] = list(LATENCY_BOUNDS_MS)
    counts = [0] * (len(bounds) + 1)
    for worker, info in after.items():
        now = info.get("latency_histogram")
        if now is None:
            continue
        bounds = now["bounds_ms"]
        then = before.get(worker, {}).get("latency_histogram", {"counts": [0] * len(now["counts"])})
        counts = [total + a - b for total, a, b in zip(counts, now["counts"], then["counts"], strict=True)]
    return bounds, counts


def _print_row(row: dict) -> None:
    gpu = (
        "no GPU"
        if row["gpu_utilisation_pct"] is None
        else (f"GPU {row['gpu_utilisation_pct']}% {row['gpu_memory_mib']:.0f} MiB")
    )
    print(
        f"{row['streams']:>4} streams: latency p50 {row['latency_ms']['p50']} ms p95 {row['latency_ms']['p95']} ms; "
        f"{row['analysed_fps_per_stream']} analysed frames/s per stream (slowest at {row['min_rate_share']:.0%}); "
        f"{row['frames_dropped']} dropped; {gpu}; streams per worker {row['streams_per_worker']}",
        flush=True,
    )
    print("      stage ms per item: " + ", ".join(f"{k} {v}" for k, v in row["stages_ms_per_item"].items()), flush=True)
