"""A whole running service for end-to-end tests: uvicorn API + worker (real MTCNN and weights) + real Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.api.app import create_app
from service.bus.connection import RedisTarget
from service.commands import DEMO_PROGRAMME
from service.config import Settings
from service.runtime import build_worker
from tests.conftest import DATA, LOOPBACK, serving


@dataclass
class RunningService:
    base: str
    ws: str
    settings: Settings


@contextmanager
def running_service(redis_url: str, prefix: str, media_dirs: list[Path], **overrides) -> Iterator[RunningService]:
    """API under uvicorn and a worker thread on one Redis, configured for tests (``overrides`` change it)."""
    settings = Settings(
        key_prefix=prefix,
        allow_local_files=True,
        media_dirs=media_dirs,
        source_allow_networks=LOOPBACK,  # the tests' own servers; refusals are tested with the default
        mutation_burst=10_000,  # one client (the tests) makes every change
        poll_interval_s=0.2,
        reconnect_attempts=0,
        open_timeout_s=3,
        read_timeout_s=3,
        device="cpu",
    ).model_copy(update=overrides)
    stop = threading.Event()
    worker = build_worker(settings, RedisTarget(redis_url))
    worker_thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    worker_thread.start()
    with serving(create_app(settings, redis_url)) as port:
        yield RunningService(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", settings)
    stop.set()
    worker_thread.join(timeout=10)
    assert not worker_thread.is_alive(), "worker did not stop"


@pytest.fixture(scope="session")
def service(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    media = [DATA, DEMO_PROGRAMME.parent, tmp_path_factory.getbasetemp()]  # bundled clips, the tests' edits
    with running_service(redis_url, f"e2e-{int(time.time())}", media) as running:
        yield running


def wait_for_status(base: str, stream_id: str, statuses: set[str], timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = httpx.get(f"{base}/streams/{stream_id}").json()
        if info["status"] in statuses:
            return info
        time.sleep(0.2)
    raise AssertionError(f"stream {stream_id} never reached {statuses}; last {info}")
