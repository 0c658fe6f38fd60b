"""A worker that cannot keep up detects less often, then analyses fewer frames of its live streams, and says
so in the stream's status and in /metrics (a target latency of 1 ms makes any worker fall behind)."""

from __future__ import annotations

import re
import threading
import time

import httpx
import pytest

from service.api.app import create_app
from service.bus.connection import RedisTarget
from service.config import Settings
from service.runtime import build_worker
from tests.conftest import DATA, serving

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.redis]


def test_behind_a_worker_lowers_the_analysis_rate_and_reports_it(redis_url, key_prefix):
    settings = Settings(
        key_prefix=key_prefix,
        allow_local_files=True,
        media_dirs=[DATA],
        target_latency_ms=1.0,
        poll_interval_s=0.2,
        identity=False,
        device="cpu",
    )
    stop = threading.Event()
    worker = build_worker(settings, RedisTarget(redis_url))
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        with serving(create_app(settings, redis_url)) as port:
            base = f"http://127.0.0.1:{port}"
            body = {"url": str(DATA / "single_face.mp4"), "analysis_fps": 8, "realtime": True, "loop": True}
            stream = httpx.post(f"{base}/streams", json=body).json()
            deadline, info = time.time() + 60, {}
            while time.time() < deadline:
                info = httpx.get(f"{base}/streams/{stream['id']}").json()
                if info["analysis_fps_now"] is not None and info["analysis_fps_now"] <= 2.0:
                    break
                time.sleep(0.5)
            assert info["analysis_fps_now"] == pytest.approx(8 * 0.25, abs=0.01), info  # the floor: a quarter
            assert info["status"] == "running" and info["analysis_fps"] == 8  # what was asked is kept
            metrics = httpx.get(f"{base}/metrics").text
            assert f'se_stream_analysis_fps{{stream="{stream["id"]}"}} 2.0' in metrics
            load = dict(re.findall(r'se_worker_load\{measure="(\w+)",worker="[^"]+"\} ([\d.]+)', metrics))
            assert load == {"detect_interval_s": "4.0", "analysis_rate": "0.25"}  # 1 s default, stretched 4x
            httpx.delete(f"{base}/streams/{stream['id']}")
    finally:
        stop.set()
        thread.join(timeout=10)
