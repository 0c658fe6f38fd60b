"""A worker survives a Redis restart mid-stream and carries on publishing; nothing already published is lost."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest
import redis

from service.bus.connection import RedisTarget
from service.bus.keys import Keys
from service.bus.registry import StreamRegistry
from service.config import Settings
from service.runtime import build_worker
from tests.conftest import DATA

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PORT = 6391


def start_redis(directory) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(PORT),
            "--bind",
            "127.0.0.1",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=PORT)
    for _ in range(100):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("redis-server did not start")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
def test_worker_rides_out_a_redis_restart(tmp_path):
    server = start_redis(tmp_path)
    url = f"redis://127.0.0.1:{PORT}/0"
    settings = Settings(
        key_prefix="resilience", poll_interval_s=0.2, device="cpu", allow_local_files=True, media_dirs=[DATA]
    )
    client = redis.Redis.from_url(url, decode_responses=True)
    keys = Keys(settings.key_prefix)
    registry = StreamRegistry(client, keys)
    stream = registry.create(str(DATA / "single_face.mp4"), None, 5.0, realtime=True, loop=True)
    stop = threading.Event()
    worker = build_worker(settings, RedisTarget(url))
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while client.xlen(keys.events(stream.id)) < 20:
            assert time.time() < deadline, "no events before the restart"
            time.sleep(0.1)
        before = client.xrange(keys.events(stream.id))
        server.terminate()
        server.wait(timeout=10)
        time.sleep(2.0)  # the worker keeps analysing while Redis is gone
        assert thread.is_alive()
        server = start_redis(tmp_path)
        after_restart = client.xlen(keys.events(stream.id))
        deadline = time.time() + 30
        while client.xlen(keys.events(stream.id)) < after_restart + 10:
            assert time.time() < deadline, "worker did not resume publishing after Redis came back"
            time.sleep(0.1)
        history = {entry_id for entry_id, _ in client.xrange(keys.events(stream.id))}
        assert {entry_id for entry_id, _ in before} <= history  # nothing published earlier was lost
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=15)
        server.terminate()
    assert not thread.is_alive()
