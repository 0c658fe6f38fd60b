"""Which streams this worker analyses: its heartbeat, and claiming, renewing and releasing stream leases.

A worker analyses a stream only while it holds the stream's lease (``StreamRegistry``: ``SET NX PX``,
renewed by compare-and-set); one that dies stops renewing, the lease expires and another worker claims the
stream. Workers share new streams out evenly: one claims only while it holds no more than the least busy
other worker with room (``fair_share``), so ``--scale worker=N`` on one GPU, or workers on several hosts,
split a burst of new streams instead of the first worker to poll taking them all. A stream stays with the
worker that claimed it. The keeper only talks to the registry; what to do with a stream it won or lost is
the runner's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from service.bus.registry import StreamRegistry


def fair_share(held: int, capacity: int, others: Iterable[tuple[int, int]]) -> int:
    """How many new streams a worker holding ``held`` of ``capacity`` may claim now, given the other live
    workers' (held, capacity): up to one more than the least busy of those with room, never past capacity."""
    room = [other_held for other_held, other_capacity in others if other_held < other_capacity]
    ceiling = capacity if not room else min(capacity, min(room) + 1)
    return max(0, ceiling - held)


class LeaseKeeper:
    def __init__(self, registry: StreamRegistry, worker_id: str, ttl_s: float, capacity: int) -> None:
        self.registry = registry
        self.worker_id = worker_id
        self.ttl_s = ttl_s
        self.capacity = capacity

    def heartbeat(self, held: Iterable[str], measures: dict) -> None:
        """``measures``: what the worker reports of itself (stage timings, latency, load, device)."""
        info = {"streams": sorted(held), "capacity": self.capacity, "time": time.time(), **measures}
        self.registry.heartbeat(self.worker_id, info, ttl_s=self.ttl_s)

    def renew(self, stream_id: str) -> bool:
        """False when the lease was lost (expired and maybe taken by another worker)."""
        return self.registry.renew(stream_id, self.worker_id, self.ttl_s)

    def claim_new(self, held: int) -> list[str]:
        """Claims unleased streams that should run, up to this worker's fair share; returns the ones won."""
        won: list[str] = []
        if held >= self.capacity:
            return won
        claimable = self.registry.claimable()
        if not claimable:
            return won
        others = [
            (len(info.get("streams", [])), int(info.get("capacity", 0)))
            for worker, info in self.registry.workers().items()
            if worker != self.worker_id
        ]
        allowed = fair_share(held, self.capacity, others)
        for stream_id in claimable:
            if len(won) >= allowed:
                break
            if self.registry.claim(stream_id, self.worker_id, self.ttl_s):
                won.append(stream_id)
        return won

    def release(self, stream_id: str) -> None:
        self.registry.release(stream_id, self.worker_id)
