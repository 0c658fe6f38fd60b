"""Publishing: every message is appended to the stream's capped history, then published live with its id.

History first, so a subscriber that sees a live message can always find it (and everything before it) in
history, and a reconnecting WebSocket client resumes from the last id it saw without a gap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import redis

from service.bus.keys import Keys


class Publisher:
    def __init__(self, client: redis.Redis, keys: Keys, events_maxlen: int, alerts_maxlen: int = 1_000_000) -> None:
        self.client = client
        self.keys = keys
        self.events_maxlen = events_maxlen
        self.alerts_maxlen = alerts_maxlen

    def emit(self, stream_id: str, messages: Sequence[dict]) -> list[str]:
        """XADDs then PUBLISHes ``messages`` (dicts with a ``type``); returns their history ids.

        An alert is also written to the stream's alert history under the same id, so one id names it in
        the WebSocket feed, ``/events`` and ``/alerts`` alike (ids only grow, so Redis accepts them).
        """
        if not messages:
            return []
        bodies = [json.dumps(message, separators=(",", ":")) for message in messages]
        pipe = self.client.pipeline(transaction=False)
        for body in bodies:
            pipe.xadd(self.keys.events(stream_id), {"data": body}, maxlen=self.events_maxlen, approximate=True)
        ids: list[str] = pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        channel = self.keys.channel(stream_id)
        for message, body, entry_id in zip(messages, bodies, ids, strict=True):
            if message.get("type") == "alert":
                pipe.xadd(
                    self.keys.alerts(stream_id),
                    {"data": body},
                    id=entry_id,
                    maxlen=self.alerts_maxlen,
                    approximate=True,
                )
            pipe.publish(channel, json.dumps({**message, "id": entry_id}, separators=(",", ":")))
        pipe.execute()
        return ids


def decode_entries(entries: list[tuple[str, dict]]) -> list[dict]:
    """XRANGE/XREAD entries -> messages with their ``id``."""
    return [{**json.loads(fields["data"]), "id": entry_id} for entry_id, fields in entries]
