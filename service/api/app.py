"""The FastAPI application factory: ``create_app(settings, redis_url)``, so tests build it against a Redis they own."""

from __future__ import annotations

import importlib.resources
from contextlib import asynccontextmanager
from pathlib import Path

import redis
import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from service.api.limits import BodyLimit, RateLimiter
from service.api.live import LiveHub
from service.api.routes import analytics, characters, health, live_ws, metrics, streams
from service.bus.gallery import GalleryStore
from service.bus.history import History
from service.bus.keyframes import KeyframeStore
from service.bus.keys import Keys
from service.bus.publisher import Publisher
from service.bus.registry import StreamRegistry
from service.config import Settings

STATIC = Path(__file__).resolve().parents[1] / "static"
SWAGGER_UI = Path(str(importlib.resources.files("fastapi_offline") / "static"))  # Swagger UI 5 (Apache-2.0)

# Every response: no inline script or style may run (user text can never become code), nothing is framed,
# sniffed or sent to other origins. connect-src 'self' covers the same-origin WebSocket.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _validation_reason(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "; ".join(parts) or "invalid request"


def create_app(settings: Settings, redis_url: str) -> FastAPI:
    keys = Keys(settings.key_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.keys = keys
        app.state.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        # many WebSockets open at once share this pool: wait for a free connection rather than fail one
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url, decode_responses=True, max_connections=64, timeout=20
        )
        app.state.aredis = aioredis.Redis(connection_pool=pool)
        app.state.registry = StreamRegistry(app.state.redis, keys)
        app.state.history = History(app.state.redis, keys)
        app.state.keyframes = KeyframeStore(redis.Redis.from_url(redis_url), keys)
        app.state.gallery = GalleryStore(app.state.keyframes.client, keys)
        app.state.publisher = Publisher(app.state.redis, keys, settings.events_maxlen)
        app.state.hub = LiveHub(app.state.aredis, keys, settings.ws_queue_size)
        app.state.rate_limiter = RateLimiter(settings.mutation_rate_per_min, settings.mutation_burst)
        await app.state.hub.start()
        try:
            yield
        finally:
            await app.state.hub.stop()
            await app.state.aredis.aclose()
            await pool.disconnect()
            app.state.keyframes.client.close()
            app.state.redis.close()

    app = FastAPI(
        title="Stream emotion service",
        version="0.1.0",
        summary="Live emotion timelines, window statistics and alerts for the faces in video streams.",
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own Swagger UI files, not a CDN
        redoc_url=None,
    )

    upload = settings.enrol_max_images * settings.enrol_max_image_bytes + settings.max_body_bytes
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, upload_limit=upload, upload_paths=("/characters",))

    @app.middleware("http")
    async def _security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": _validation_reason(exc)})

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html")

    app.mount("/static/swagger", StaticFiles(directory=SWAGGER_UI), name="swagger")  # before /static
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(streams.router)
    app.include_router(analytics.router)
    app.include_router(characters.router)
    app.include_router(live_ws.router)
    return app
