"""``python -m service bench-live``: many WebSocket subscribers on one API process, with the worker beside it.

Real processes on loopback only: the API (``serve``) and a worker (``worker``) as subprocesses against one
Redis, the subscribers in this process. The bundled clip plays as a live stream. First the worker's analysis
rate is measured with no subscriber (the baseline), then ``--subscribers`` WebSockets open (each gets its
bounded snapshot, then live messages) and the same rate is measured again, with the delivery latency of every
live message: the time it was received minus the time Redis stored it (the millisecond part of its history
id; one clock, one machine). Bounded in count (``--subscribers`` ≤ 5,000) and time (``--seconds`` ≤ 120).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import uvloop
import websockets

from service.bus.connection import connect
from service.commands import DEMO_CLIP
from service.config import Settings

MAX_SUBSCRIBERS, MAX_SECONDS = 5000, 120.0
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll would drown the result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "service", *args], env=env, stdout=subprocess.DEVNULL)


def _analysed(base: str, stream_id: str) -> tuple[int, float]:
    info = httpx.get(f"{base}/streams/{stream_id}", timeout=10).json()
    return info["counters"]["frames_analysed"], time.monotonic()


def _rate(base: str, stream_id: str, seconds: float) -> float:
    """Frames analysed per second over ``seconds`` (the registry's counter, read twice)."""
    first, began = _analysed(base, stream_id)
    time.sleep(seconds)
    last, ended = _analysed(base, stream_id)
    return (last - first) / (ended - began)


async def _subscribe(url: str, latencies: list[float], received: list[int], index: int) -> None:
    """One subscriber until cancelled: its snapshot, then every live message's delivery latency."""
    async with websockets.connect(url, max_queue=None, open_timeout=60) as ws:
        snapshot = json.loads(await ws.recv())
        assert snapshot["type"] == "snapshot"
        async for text in ws:
            stored_ms = int(text[7 : text.index("-", 7)])  # {"id":"<ms>-<seq>", … : the id comes first
            latencies.append(time.time() * 1000 - stored_ms)
            received[index] += 1


async def _with_subscribers(ws_url: str, count: int, base: str, stream_id: str, seconds: float) -> dict:
    latencies: list[float] = []
    received = [0] * count
    tasks = []
    for start in range(0, count, 100):  # open in batches: a thousand handshakes at once is a test of its own
        for index in range(start, min(count, start + 100)):
            tasks.append(asyncio.create_task(_subscribe(ws_url, latencies, received, index)))
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)  # every snapshot sent, live from here
    latencies.clear()
    rate = await asyncio.to_thread(_rate, base, stream_id, seconds)
    failed = [task for task in tasks if task.done() and task.exception() is not None]  # ended before the cut
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "subscribers": count,
        "subscribers_failed": len(failed),
        "subscribers_receiving": sum(n > 0 for n in received),
        "messages_delivered": len(latencies),
        "delivery_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 1) if latencies else None,
            "p99": round(float(np.percentile(latencies, 99)), 1) if latencies else None,
        },
        "frames_per_s": round(rate, 2),
    }


def run_bench_live(settings: Settings, subscribers: int, seconds: float, fps: float, as_json: bool) -> dict:
    subscribers = max(1, min(subscribers, MAX_SUBSCRIBERS))
    seconds = max(1.0, min(seconds, MAX_SECONDS))
    _raise_fd_limit(subscribers * 2 + 256)  # the subprocesses inherit it
    target = connect(settings)
    prefix = f"bench-live-{uuid.uuid4().hex[:6]}"
    port = _free_port()
    env = {
        **os.environ,
        "REDIS_URL": target.url,
        "EMOTION_KEY_PREFIX": prefix,
        "EMOTION_ALLOW_LOCAL_FILES": "true",
        "EMOTION_MEDIA_DIRS": json.dumps([str(Path(DEMO_CLIP).parent)]),
        "EMOTION_LOG_LEVEL": "WARNING",
    }
    processes = [_spawn(["serve", "--port", str(port)], env), _spawn(["worker"], env)]
    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).json().get("workers", 0) >= 1:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API or the worker did not come up within 120 s")
            time.sleep(0.5)
        body = {"url": str(DEMO_CLIP), "name": "bench-live", "analysis_fps": fps, "realtime": True, "loop": True}
        stream_id = httpx.post(f"{base}/streams", json=body, timeout=10).json()["id"]
        while httpx.get(f"{base}/streams/{stream_id}", timeout=10).json()["status"] != "running":
            time.sleep(0.2)
        time.sleep(2.0)  # past the first frames' model warm-up
        baseline = _rate(base, stream_id, seconds)
        loaded = uvloop.run(  # the clients stand for subscribers on other machines: keep their share of the CPU small
            _with_subscribers(f"{ws_base}/ws/streams/{stream_id}", subscribers, base, stream_id, seconds)
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        client = target.client()
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    result = {
        "analysis_fps": fps,
        "seconds": seconds,
        "frames_per_s_without_subscribers": round(baseline, 2),
        **loaded,
        "ratio_with_to_without": round(loaded["frames_per_s"] / baseline, 3) if baseline else None,
    }
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        latency = result["delivery_ms"]
        print(
            f"{result['subscribers']} subscribers ({result['subscribers_failed']} failed, "
            f"{result['subscribers_receiving']} receiving) on one API process, {seconds:g} s at analysis fps {fps:g}:\n"
            f"  delivered {result['messages_delivered']} messages; delivery latency p50 {latency['p50']} ms, "
            f"p99 {latency['p99']} ms\n"
            f"  worker: {result['frames_per_s_without_subscribers']} frames/s without subscribers, "
            f"{result['frames_per_s']} with them ({result['ratio_with_to_without']}x)"
        )
    return result
