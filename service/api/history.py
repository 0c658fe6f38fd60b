"""Reading a stream's history back from Redis, and replaying it through the pure analytics."""

from __future__ import annotations

from collections.abc import Callable

import redis

from service.bus.keys import Keys
from service.bus.publisher import decode_entries

_PAGE = 2000


def recent_messages(client: redis.Redis, keys: Keys, stream_id: str, window_s: float | None) -> list[dict]:
    """Messages of the last ``window_s`` media seconds (all retained history when None), oldest first.

    Reads backwards page by page and stops once a frame record older than the window is reached, so a
    60-second query costs a minute of history, not the whole stream.
    """
    collected: list[dict] = []
    end_pts: float | None = None
    upper = "+"
    while True:
        entries = client.xrevrange(keys.events(stream_id), max=upper, min="-", count=_PAGE)
        if not entries:
            break
        page = decode_entries(entries)
        for message in page:
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


def _from_first_frame(messages: list[dict]) -> list[dict]:
    """Drops leading face events whose frame record fell outside the window (their frame is incomplete)."""
    for index, message in enumerate(messages):
        if message.get("type") == "frame":
            # faces just before the first frame record belong to it; earlier ones do not
            start = index - message["faces"]
            return messages[max(start, 0) :]
    return []


def read_page(
    client: redis.Redis, key: str, since: str | None, limit: int, keep: Callable[[dict], bool] = lambda message: True
) -> tuple[list[dict], str | None]:
    """Up to ``limit`` kept messages after ``since``, oldest first, and the cursor of the next page.

    The cursor is None when the history holds nothing more; a full page returns the id of its last message.
    """
    kept: list[dict] = []
    start = f"({since}" if since else "-"
    while True:
        entries = client.xrange(key, min=start, max="+", count=limit)
        for message in decode_entries(entries):
            if keep(message):
                kept.append(message)
                if len(kept) == limit:
                    return kept, message["id"]
        if len(entries) < limit:
            return kept, None
        start = f"({entries[-1][0]}"
