"""Which streams this worker analyses: its heartbeat, and claiming, renewing and releasing stream leases.

A worker analyses a stream only while it holds the stream's lease (``StreamRegistry``: ``SET NX PX``,
renewed by compare-and-set); one that dies stops renewing, the lease expires and another worker claims the
stream. The keeper only talks to the registry; what to do with a stream it won or lost is the runner's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from service.bus.registry import StreamRegistry


class LeaseKeeper:
    def __init__(self, registry: StreamRegistry, worker_id: str, ttl_s: float, capacity: int) -> None:
        self.registry = registry
        self.worker_id = worker_id
        self.ttl_s = ttl_s
        self.capacity = capacity

    def heartbeat(self, held: Iterable[str], stages: dict, latency_ms: dict, load: dict | None = None) -> None:
        """``load``: how the worker copes (its detection interval and analysis-rate factor now)."""
        info = {
            "streams": sorted(held),
            "capacity": self.capacity,
            "time": time.time(),
            "stages": stages,
            "latency_ms": latency_ms,
            "load": load or {},
        }
        self.registry.heartbeat(self.worker_id, info, ttl_s=self.ttl_s)

    def renew(self, stream_id: str) -> bool:
        """False when the lease was lost (expired and maybe taken by another worker)."""
        return self.registry.renew(stream_id, self.worker_id, self.ttl_s)

    def claim_new(self, held: int) -> list[str]:
        """Claims unleased streams that should run, up to the capacity left; returns the ones won."""
        won: list[str] = []
        if held >= self.capacity:
            return won
        for stream_id in self.registry.claimable():
            if held + len(won) >= self.capacity:
                break
            if self.registry.claim(stream_id, self.worker_id, self.ttl_s):
                won.append(stream_id)
        return won

    def release(self, stream_id: str) -> None:
        self.registry.release(stream_id, self.worker_id)
