"""Names of every Redis key and channel the service uses, in one place (the contract between processes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "se"

    @property
    def streams(self) -> str:
        """Set of all registered stream ids."""
        return f"{self.prefix}:streams"

    def stream(self, stream_id: str) -> str:
        """Hash: the stream's spec, status, counters, latest stats."""
        return f"{self.prefix}:stream:{stream_id}"

    def events(self, stream_id: str) -> str:
        """Redis Stream: history of face, stats, status (and alert) messages, capped."""
        return f"{self.prefix}:stream:{stream_id}:events"

    def alerts(self, stream_id: str) -> str:
        """Redis Stream: alerts only, kept longer than events."""
        return f"{self.prefix}:stream:{stream_id}:alerts"

    def keyframe(self, stream_id: str) -> str:
        """String: a recent JPEG frame of the stream, the backdrop of spatial heatmaps."""
        return f"{self.prefix}:stream:{stream_id}:keyframe"

    def channel(self, stream_id: str) -> str:
        """Pub/sub channel of live messages of one stream."""
        return f"{self.prefix}:live:{stream_id}"

    def lease(self, stream_id: str) -> str:
        """String held by the worker that analyses the stream (SET NX PX, renewed)."""
        return f"{self.prefix}:lease:{stream_id}"

    def worker(self, worker_id: str) -> str:
        """Heartbeat of one worker (expires when the worker stops renewing it)."""
        return f"{self.prefix}:worker:{worker_id}"

    def worker_pattern(self, host: str = "*") -> str:
        return f"{self.prefix}:worker:{host}*"
