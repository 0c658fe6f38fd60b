"""Health and readiness: ``/healthz`` answers 200 only when Redis answers."""

from __future__ import annotations

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import RedisDep, RegistryDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(client: RedisDep, registry: RegistryDep) -> JSONResponse:
    try:
        client.ping()
        workers = registry.workers()
    except redis.RedisError as exc:
        return JSONResponse(status_code=503, content={"status": "unavailable", "redis": False, "detail": str(exc)})
    return JSONResponse(content={"status": "ok", "redis": True, "workers": len(workers)})
