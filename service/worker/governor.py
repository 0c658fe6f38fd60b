"""Keeping a worker real time: when analysed frames wait too long, do less work per stream, in two steps.

First the full-detection interval is stretched (followed faces stay on the timeline at every analysed frame;
new faces just show up later), up to ``max_stretch``; only then is every stream's analysis rate lowered, down
to ``min_rate`` of what it asked for, so frames are analysed less often before any is dropped unseen. When the
latency is well under the target and nothing is dropped, the rate comes back first, then the interval.
Pure: latencies and drop counts in, the two factors out; the runner applies them once a second.
"""

from __future__ import annotations

from dataclasses import dataclass

STEP = 1.5  # each adjustment multiplies or divides a factor by this


@dataclass
class LoadGovernor:
    target_ms: float = 500.0  # decode -> published latency (p50 over the last second) to stay under
    max_stretch: float = 4.0
    min_rate: float = 0.25
    stretch: float = 1.0  # multiplies the detection interval
    rate: float = 1.0  # multiplies each stream's analysis rate

    @property
    def behind(self) -> bool:
        """True while the worker does less than it was asked to."""
        return self.stretch > 1.0 or self.rate < 1.0

    def update(self, latency_ms: float | None, dropped: int) -> None:
        """One second's observation: the median latency of the frames analysed in it (None: none analysed)
        and the frames live queues dropped in it."""
        if dropped > 0 or (latency_ms is not None and latency_ms > self.target_ms):
            if self.stretch < self.max_stretch:
                self.stretch = min(self.max_stretch, self.stretch * STEP)
            else:
                self.rate = max(self.min_rate, self.rate / STEP)
        elif latency_ms is not None and latency_ms < self.target_ms / 2:
            if self.rate < 1.0:
                self.rate = min(1.0, self.rate * STEP)
            else:
                self.stretch = max(1.0, self.stretch / STEP)
