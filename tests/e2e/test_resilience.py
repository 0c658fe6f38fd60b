"""Faults with real processes: a worker survives a Redis restart mid-stream; a worker killed with SIGKILL hands
its stream to another within two lease periods, the history continuing; Redis restarted with AOF keeps the
registry, the history and the gallery. Nothing already published is lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import redis

from service.bus.connection import RedisTarget
from service.bus.gallery import GalleryStore
from service.bus.keys import Keys
from service.bus.registry import StreamRegistry
from service.config import Settings
from service.runtime import build_worker
from tests.conftest import DATA

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PORT = 6391


def start_redis(directory, port: int = PORT) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
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
    client = redis.Redis(port=port)
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
        server.wait(timeout=10)  # the port is free again for the next test
    assert not thread.is_alive()


def _worker_process(url: str, prefix: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "EMOTION_REDIS_URL": url,
        "EMOTION_KEY_PREFIX": prefix,
        "EMOTION_DEVICE": "cpu",
        "EMOTION_LEASE_TTL_S": str(LEASE_TTL_S),
        "EMOTION_POLL_INTERVAL_S": "0.2",
        "EMOTION_ALLOW_LOCAL_FILES": "true",
        "EMOTION_MEDIA_DIRS": json.dumps([str(DATA)]),
        "EMOTION_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "service", "worker"], env=env, stdout=subprocess.DEVNULL)


LEASE_TTL_S = 3.0


def _faces_after(client: redis.Redis, keys: Keys, stream_id: str, skip: int) -> list[dict]:
    """Face events after the first ``skip`` history entries."""
    entries = client.xrange(keys.events(stream_id))[skip:]
    return [m for m in (json.loads(f["data"]) for _, f in entries) if m["type"] == "face"]


TAKEOVER_PORT = PORT + 1


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
def test_kill_9_of_a_worker_hands_its_stream_over_and_redis_restarts_keep_everything(tmp_path):
    server = start_redis(tmp_path, TAKEOVER_PORT)
    url, prefix = f"redis://127.0.0.1:{TAKEOVER_PORT}/0", "takeover"
    client = redis.Redis.from_url(url, decode_responses=True)
    keys = Keys(prefix)
    registry = StreamRegistry(client, keys)
    gallery = GalleryStore(redis.Redis.from_url(url), keys)
    host_id = gallery.create("Host", "enrolled", [np.ones(128, dtype=np.float32)])
    stream = registry.create(str(DATA / "single_face.mp4"), "takeover", 5.0, realtime=True, loop=True)
    workers = [_worker_process(url, prefix) for _ in range(2)]
    try:
        deadline = time.time() + 90
        while client.xlen(keys.events(stream.id)) < 30 or not gallery.stream_summaries(stream.id):
            assert time.time() < deadline, "no events (and no character) from the workers"  # models load, frames flow
            time.sleep(0.2)
        discovered = {c["character_id"]: c["name"] for c in gallery.stream_summaries(stream.id)}
        holder = client.get(keys.lease(stream.id))
        victim = next(w for w in workers if holder.endswith(f"-{w.pid}"))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at, before = time.time(), client.xrange(keys.events(stream.id))
        while True:
            holder_now = client.get(keys.lease(stream.id))
            if holder_now and holder_now != holder:
                break
            assert time.time() - killed_at < 2 * LEASE_TTL_S, "no worker took the stream over in 2x the lease TTL"
            time.sleep(0.1)
        count = len(before)
        deadline = time.time() + 30
        while client.xlen(keys.events(stream.id)) < count + 20:
            assert time.time() < deadline, "the new worker did not publish"
            time.sleep(0.2)
        history = client.xrange(keys.events(stream.id))
        assert {i for i, _ in before} <= {i for i, _ in history}  # nothing published was lost
        frames = [json.loads(f["data"]) for _, f in history if json.loads(f["data"])["type"] == "frame"]
        assert all(b["pts"] > a["pts"] and b["frame"] > a["frame"] for a, b in zip(frames, frames[1:], strict=False))
        deadline = time.time() + 30
        while not (named := [m for m in _faces_after(client, keys, stream.id, count) if m["character_id"]]):
            assert time.time() < deadline, "the new worker recognised nobody"
            time.sleep(0.2)
        assert {(m["character_id"], m["character"]) for m in named} <= set(discovered.items())  # the same person

        server.terminate()  # AOF on: what was acknowledged survives a restart
        server.wait(timeout=10)
        server = start_redis(tmp_path, TAKEOVER_PORT)
        assert registry.get(stream.id) is not None
        assert client.xlen(keys.events(stream.id)) >= len(history)
        assert gallery.get(host_id) is not None and gallery.get(host_id).name == "Host"
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(timeout=10)
        server.terminate()
        server.wait(timeout=10)
