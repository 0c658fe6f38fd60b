"""The long-running commands: API server, worker, all-in-one demo, container health check."""

from __future__ import annotations

import logging
import socket
import threading
import urllib.request
from pathlib import Path

import uvicorn

from service.analytics import DEFAULT_RULES
from service.api.app import create_app
from service.bus.connection import connect
from service.bus.keys import Keys
from service.bus.registry import StreamRegistry
from service.config import Settings
from service.ingest.urls import SourcePolicy, parse_source
from service.schemas import StreamInfo

log = logging.getLogger(__name__)
DATA = Path(__file__).resolve().parent / "data"
DEMO_CLIP = DATA / "demo_face.mp4"  # one face: the benchmarks' clip
DEMO_PROGRAMME = DATA / "demo_programme.mp4"  # a host and a guest, cut together: what the demo plays


def serve(settings: Settings, host: str, port: int) -> None:
    target = connect(settings)
    app = create_app(settings, target.url)
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), **_server_options(settings))


def _server_options(settings: Settings) -> dict:
    return {"ws_per_message_deflate": settings.ws_compression}


def worker(settings: Settings, stop: threading.Event) -> None:
    from service.runtime import build_worker  # loads torch: only worker processes import it

    target = connect(settings)
    build_worker(settings, target).run(stop)


def _check_port(host: str, port: int) -> None:
    """Exits with a clear message when the demo could not listen on ``host:port``."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = f"cannot listen on {host}:{port} ({exc.strerror}); is another demo running?"
            raise SystemExit(f"error: {reason}") from exc


def _demo_stream(registry: StreamRegistry, url: str, fps: float) -> StreamInfo:
    """The demo's stream: the one an earlier demo left (it goes on, its media clock continuing), or a new one."""
    for info in registry.list():
        if info.name == "demo" and info.url == url:
            registry.resume(info.id)
            return info
    return registry.create(url, "demo", fps, realtime=True, loop=True, alert_rules=list(DEFAULT_RULES))


def demo(settings: Settings, host: str, port: int, clip: str | None) -> None:
    """Embedded Redis (unless REDIS_URL is set), a worker thread and the API, with a clip looping as live."""
    from service.runtime import build_worker

    spec = parse_source(clip or str(DEMO_PROGRAMME), SourcePolicy.operator())  # a bad path fails before anything starts
    media = sorted({*settings.media_dirs, Path(spec.url).parent})  # the demo's own clip must be playable
    settings = settings.model_copy(update={"allow_local_files": True, "media_dirs": media})
    _check_port(host, port)  # a busy port fails here, before any stream is registered
    target = connect(settings)
    stop = threading.Event()
    runner = build_worker(settings, target)
    thread = threading.Thread(target=runner.run, args=(stop,), name="worker", daemon=True)
    thread.start()
    registry = StreamRegistry(target.client(), Keys(settings.key_prefix))
    info = _demo_stream(registry, spec.url, settings.default_analysis_fps)
    base = f"http://{host}:{port}"
    print(
        f"\nDemo running: dashboard {base}/  API docs {base}/docs\n"
        f"stream {info.id}: {base}/streams/{info.id}  live: ws://{host}:{port}/ws/streams/{info.id}\n"
        "Ctrl-C to stop.\n",
        flush=True,
    )
    try:
        app = create_app(settings, target.url)
        uvicorn.run(app, host=host, port=port, log_level="warning", **_server_options(settings))
    finally:
        stop.set()
        thread.join(timeout=10)


def check(settings: Settings, role: str, port: int) -> int:
    """0 when healthy: the API answers /healthz, or a worker on this host has a fresh heartbeat."""
    if role == "api":
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                return 0 if response.status == 200 else 1
        except OSError as exc:
            print(f"api unhealthy: {exc}")
            return 1
    target = connect(settings)
    registry = StreamRegistry(target.client(), Keys(settings.key_prefix))
    alive = registry.workers(settings.worker_id or socket.gethostname())
    if not alive:
        print("no fresh worker heartbeat on this host")
        return 1
    return 0
