"""Publishing: every message is appended to the stream's capped history, then published live with its id.

History first, so a subscriber that sees a live message can always find it (and everything before it) in
history, and a reconnecting WebSocket client resumes from the last id it saw without a gap. Messages arrive
encoded (``service.wire.encode``): the history keeps that text, the live channel carries it with the history
id spliced in front (``wire.with_id``), which is exactly what a WebSocket client receives.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from service.bus.keys import Keys
from service.wire import Encoded, with_id


class Publisher:
    def __init__(self, client: redis.Redis, keys: Keys, events_maxlen: int, alerts_maxlen: int = 1_000_000) -> None:
        self.client = client
        self.keys = keys
        self.events_maxlen = events_maxlen
        self.alerts_maxlen = alerts_maxlen

    def emit(self, stream_id: str, messages: Sequence[Encoded]) -> list[str]:
        """XADDs then PUBLISHes ``messages``; returns their history ids.

        An alert is also written to the stream's alert history under the same id, so one id names it in
        the WebSocket feed, ``/events`` and ``/alerts`` alike (ids only grow, so Redis accepts them).
        """
        if not messages:
            return []
        pipe = self.client.pipeline(transaction=False)
        for message in messages:
            pipe.xadd(self.keys.events(stream_id), {"data": message.body}, maxlen=self.events_maxlen, approximate=True)
        ids: list[str] = pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        channel = self.keys.channel(stream_id)
        for message, entry_id in zip(messages, ids, strict=True):
            if message.type == "alert":
                pipe.xadd(
                    self.keys.alerts(stream_id),
                    {"data": message.body},
                    id=entry_id,
                    maxlen=self.alerts_maxlen,
                    approximate=True,
                )
            pipe.publish(channel, with_id(entry_id, message.body))
        pipe.execute()
        return ids
