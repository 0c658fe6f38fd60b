"""FastAPI dependencies: the per-app Redis clients, registry and settings, reached through ``app.state``."""

from __future__ import annotations

from typing import Annotated

import redis
from fastapi import Depends, HTTPException, Request

from service.bus.keys import Keys
from service.bus.registry import StreamRegistry
from service.config import Settings
from service.schemas import StreamInfo


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_registry(request: Request) -> StreamRegistry:
    return request.app.state.registry


def get_redis(request: Request) -> redis.Redis:
    return request.app.state.redis


def get_keys(request: Request) -> Keys:
    return request.app.state.keys


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[StreamRegistry, Depends(get_registry)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
KeysDep = Annotated[Keys, Depends(get_keys)]


def existing_stream(stream_id: str, registry: RegistryDep) -> StreamInfo:
    info = registry.get(stream_id)
    if info is None:
        raise HTTPException(status_code=404, detail=f"no stream {stream_id!r}")
    return info


StreamDep = Annotated[StreamInfo, Depends(existing_stream)]
