"""Per-stage timers: every stage of the pipeline is measured, for the benchmark and for metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
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
