"""Reading a stream's history back from Redis: paged reads, window replays, and WebSocket replay pages.

Entries hold the encoded messages (``service.wire``). REST answers decode them; a WebSocket replay hands
their text on with the id spliced in front, as the live channel does, without decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aioredis

from service import wire
from service.bus.keys import Keys

_PAGE = 2000


_U64 = 2**64 - 1


def start_after(since: str | None) -> str | None:
    """The inclusive XRANGE start just after history id ``since`` (``ms`` alone means ``ms-0``); "-" for
    None; None when nothing can come after it (the largest id Redis has)."""
    if since is None:
        return "-"
    ms, _, seq = since.partition("-")
    ms_, seq_ = int(ms), int(seq or 0)
    if seq_ < _U64:
        return f"{ms_}-{seq_ + 1}"
    return f"{ms_ + 1}-0" if ms_ < _U64 else None


def _decoded(entries: list[tuple[str, dict]]) -> list[dict[str, Any]]:
    return [wire.decode(entry_id, fields["data"]) for entry_id, fields in entries]


class History:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def recent(self, stream_id: str, window_s: float | None) -> list[dict[str, Any]]:
        """Messages of the last ``window_s`` media seconds (all retained history when None), oldest first.

        Reads backwards page by page and stops once a frame record older than the window is reached, so a
        60-second query costs a minute of history, not the whole stream.
        """
        collected: list[dict[str, Any]] = []
        end_pts: float | None = None
        upper = "+"
        while True:
            entries = self.client.xrevrange(self.keys.events(stream_id), max=upper, min="-", count=_PAGE)
            if not entries:
                break
            for message in _decoded(entries):
                if message.get("type") == "frame" and window_s is not None:
                    end_pts = message["pts"] if end_pts is None else end_pts
                    if message["pts"] <= end_pts - window_s:
                        collected.reverse()
                        return _from_first_frame(collected)
                collected.append(message)
            if len(entries) < _PAGE:
                break
            upper = f"({entries[-1][0]}"
        collected.reverse()
        return _from_first_frame(collected)

    def events(
        self, stream_id: str, since: str | None, limit: int, keep: Callable[[dict], bool] = lambda message: True
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the stream's event history (see ``read_page``)."""
        return read_page(self.client, self.keys.events(stream_id), since, limit, keep)

    def alerts(
        self, stream_id: str, since: str | None, limit: int, keep: Callable[[dict], bool] = lambda message: True
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the stream's durable alert history (see ``read_page``)."""
        return read_page(self.client, self.keys.alerts(stream_id), since, limit, keep)

    def resume_point(self, stream_id: str, analysis_fps: float) -> tuple[float, int] | None:
        """Media time and frame number just after the last analysed frame in the history, None when it has none:
        a stream started again continues its clock instead of restarting it at 0."""
        upper = "+"
        for _ in range(10):  # frame records are dense; a few pages back always holds one if any exists
            entries = self.client.xrevrange(self.keys.events(stream_id), max=upper, min="-", count=200)
            for message in _decoded(entries):
                if message.get("type") == "frame":
                    return message["pts"] + 1.0 / analysis_fps, message["frame"] + 1
            if len(entries) < 200:
                return None
            upper = f"({entries[-1][0]}"
        return None

    def latest_alerts(self, stream_id: str, until: str, count: int) -> list[dict[str, Any]]:
        """The last ``count`` alert records up to history id ``until``, oldest first."""
        entries = self.client.xrevrange(self.keys.alerts(stream_id), max=until, min="-", count=count)
        return _decoded(entries[::-1])


def _from_first_frame(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drops leading face events whose frame record fell outside the window (their frame is incomplete)."""
    for index, message in enumerate(messages):
        if message.get("type") == "frame":
            # faces just before the first frame record belong to it; earlier ones do not
            start = index - message["faces"]
            return messages[max(start, 0) :]
    return []


def read_page(
    client: redis.Redis, key: str, since: str | None, limit: int, keep: Callable[[dict], bool] = lambda message: True
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` kept messages after ``since``, oldest first, and the cursor of the next page.

    The cursor is None when the history holds nothing more; a full page returns the id of its last message.
    """
    kept: list[dict[str, Any]] = []
    start = start_after(since)
    if start is None:
        return kept, None
    while True:
        entries = client.xrange(key, min=start, max="+", count=limit)
        for message in _decoded(entries):
            if keep(message):
                kept.append(message)
                if len(kept) == limit:
                    return kept, message["id"]
        if len(entries) < limit:
            return kept, None
        start = f"({entries[-1][0]}"


async def replay_page(
    client: aioredis.Redis, keys: Keys, stream_id: str, after: str | None, count: int
) -> list[tuple[str, str]]:
    """Up to ``count`` history entries after ``after``: (id, delivered text) pairs, oldest first."""
    start = start_after(after)
    if start is None:
        return []
    entries = await client.xrange(keys.events(stream_id), min=start, max="+", count=count)
    return [(entry_id, wire.with_id(entry_id, fields["data"])) for entry_id, fields in entries]


async def last_entry_id(client: aioredis.Redis, keys: Keys, stream_id: str) -> str | None:
    """The id of the newest history entry, None while the history is empty."""
    entries = await client.xrevrange(keys.events(stream_id), max="+", min="-", count=1)
    return entries[0][0] if entries else None
