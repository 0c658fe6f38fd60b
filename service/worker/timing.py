"""Per-stage timers and the latency histogram: what the benchmarks, heartbeats and ``/metrics`` report."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StageStats:
    calls: int = 0
    items: int = 0
    seconds: float = 0.0


@dataclass
class StageTimer:
    stages: dict[str, StageStats] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, items: int = 1) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            stats = self.stages.setdefault(name, StageStats())
            stats.calls += 1
            stats.items += items
            stats.seconds += time.perf_counter() - began

    def summary(self) -> dict[str, dict[str, float]]:
        """Per stage: total ms, ms per call and per item, and item count."""
        return {
            name: {
                "calls": s.calls,
                "items": s.items,
                "total_ms": round(s.seconds * 1000, 2),
                "ms_per_call": round(s.seconds * 1000 / max(s.calls, 1), 3),
                "ms_per_item": round(s.seconds * 1000 / max(s.items, 1), 3),
            }
            for name, s in self.stages.items()
        }


LATENCY_BOUNDS_MS: tuple[float, ...] = (
    10, 20, 30, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000,
)  # fmt: skip


@dataclass
class LatencyHistogram:
    """Decode-to-publish latencies counted per bucket since the worker started.

    Recent-sample quantiles cannot be combined; bucket counts can: the difference of two snapshots is the
    distribution of that window, and the windows of several workers add up (``bench-streams`` with many worker
    processes, Prometheus' ``histogram_quantile`` over ``/metrics``). Bucket ``i`` counts latencies up to
    ``bounds_ms[i]``; the last one counts the rest.
    """

    bounds_ms: tuple[float, ...] = LATENCY_BOUNDS_MS
    counts: list[int] = field(init=False)
    sum_ms: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds_ms) + 1)

    def observe(self, ms: float) -> None:
        self.counts[bisect_left(self.bounds_ms, ms)] += 1
        self.sum_ms += ms

    def snapshot(self) -> dict:
        return {"bounds_ms": list(self.bounds_ms), "counts": list(self.counts), "sum_ms": round(self.sum_ms, 1)}


def histogram_quantile(bounds_ms: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile of bucket counts, linear inside its bucket (as Prometheus interpolates); a quantile in
    the open top bucket reads as the highest bound. None without counts."""
    total = sum(counts)
    if total <= 0:
        return None
    rank, below = q * total, 0
    for index, count in enumerate(counts):
        if count and below + count >= rank:
            if index == len(bounds_ms):
                return float(bounds_ms[-1])
            lower = float(bounds_ms[index - 1]) if index else 0.0
            return lower + (float(bounds_ms[index]) - lower) * (rank - below) / count
        below += count
    return float(bounds_ms[-1])
