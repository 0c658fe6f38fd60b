"""One Redis pub/sub listener per API process, fanned out to bounded per-WebSocket queues.

A subscriber that cannot keep up is not allowed to grow memory: when its queue is full it is marked
overflowed, and its WebSocket handler catches it up from history instead. Live messages arrive as the text
a client receives (``service.wire.with_id``); the hub reads only their id and never decodes the JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

import redis.asyncio as aioredis

from service import wire
from service.bus.keys import Keys

log = logging.getLogger(__name__)


class Subscription:
    def __init__(self, stream_id: str, maxsize: int) -> None:
        self.stream_id = stream_id
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=maxsize)  # (history id, text)
        self.overflowed = False

    def reset(self) -> None:
        """Empties the queue and clears the overflow mark (before a catch-up from history)."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.overflowed = False


class LiveHub:
    def __init__(self, client: aioredis.Redis, keys: Keys, queue_size: int) -> None:
        self.client = client
        self.keys = keys
        self.queue_size = queue_size
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="live-hub")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self, stream_id: str) -> Subscription:
        sub = Subscription(stream_id, self.queue_size)
        self._subs[stream_id].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs[sub.stream_id].discard(sub)
        if not self._subs[sub.stream_id]:
            del self._subs[sub.stream_id]

    async def _listen(self) -> None:
        prefix = self.keys.channel("")
        while True:
            try:
                pubsub = self.client.pubsub()
                await pubsub.psubscribe(self.keys.channel("*"))
                self._ready.set()
                async for raw in pubsub.listen():
                    if raw["type"] != "pmessage":
                        continue
                    stream_id = raw["channel"].removeprefix(prefix)
                    subs = self._subs.get(stream_id)
                    if not subs:
                        continue
                    message = (wire.id_of(raw["data"]), raw["data"])
                    for sub in list(subs):
                        try:
                            sub.queue.put_nowait(message)
                        except asyncio.QueueFull:
                            sub.overflowed = True
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis restarted or the connection broke: resubscribe
                log.exception("live listener lost Redis; resubscribing")
                await asyncio.sleep(1.0)


def entry_id_key(entry_id: str) -> tuple[int, int]:
    """Redis Stream ids compare as (milliseconds, sequence)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
