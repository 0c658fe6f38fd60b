"""FastAPI dependencies: the per-app Redis clients, registry and settings, reached through ``app.state``."""

from __future__ import annotations

import hmac
from typing import Annotated

import redis
from fastapi import Depends, Header, HTTPException, Request

from service import wire
from service.bus.gallery import GalleryStore
from service.bus.history import History
from service.bus.keyframes import KeyframeStore
from service.bus.publisher import Publisher
from service.bus.registry import StreamRegistry
from service.config import Settings
from service.schemas import STREAM_ID, StreamInfo, StreamStatus


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_registry(request: Request) -> StreamRegistry:
    return request.app.state.registry


def get_redis(request: Request) -> redis.Redis:
    return request.app.state.redis


def get_history(request: Request) -> History:
    return request.app.state.history


def get_keyframes(request: Request) -> KeyframeStore:
    return request.app.state.keyframes


def get_publisher(request: Request) -> Publisher:
    return request.app.state.publisher


def get_gallery(request: Request) -> GalleryStore:
    return request.app.state.gallery


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[StreamRegistry, Depends(get_registry)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
HistoryDep = Annotated[History, Depends(get_history)]
KeyframesDep = Annotated[KeyframeStore, Depends(get_keyframes)]
PublisherDep = Annotated[Publisher, Depends(get_publisher)]
GalleryDep = Annotated[GalleryStore, Depends(get_gallery)]


def publish_status(publisher: Publisher, stream_id: str, status: StreamStatus, reason: str | None = None) -> None:
    """Status changes the API itself makes (registered, stopped without a worker) go on the same channels."""
    publisher.emit(stream_id, [wire.encode(wire.status_message(stream_id, status, reason))])


def existing_stream(stream_id: str, registry: RegistryDep) -> StreamInfo:
    info = registry.get(stream_id) if STREAM_ID.match(stream_id) else None  # odd ids never reach Redis
    if info is None:
        raise HTTPException(status_code=404, detail=f"no stream {stream_id[:64]!r}")
    return info


StreamDep = Annotated[StreamInfo, Depends(existing_stream)]


def key_matches(settings: Settings, given: str | None) -> bool:
    """True when no key is configured, or ``given`` equals it (compared in constant time)."""
    if settings.api_key is None:
        return True
    return given is not None and hmac.compare_digest(given.encode(), settings.api_key.get_secret_value().encode())


def guard_mutation(request: Request, settings: SettingsDep, x_api_key: Annotated[str | None, Header()] = None) -> None:
    """Every mutation: the client's rate limit first (wrong keys count too, so the key cannot be guessed
    quickly), then the API key."""
    client = request.client.host if request.client else "unknown"
    wait = request.app.state.rate_limiter.take(client)
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail=f"too many changes from this client; retry in {wait:.0f} s",
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    if not key_matches(settings, x_api_key):
        raise HTTPException(status_code=401, detail="missing or wrong X-API-Key header")


MutationDep = Depends(guard_mutation)
