"""Choose which decoded frames to analyse, by presentation time rather than frame count.

Counting frames breaks on variable frame rates and dropped frames; PTS does not. A frame is taken when its
media time reaches the next sampling instant; a jump backwards (source restart) or a gap restarts the grid.
"""

from __future__ import annotations

_EPSILON = 1e-3  # seconds: absorbs 29.97 fps rounding


class PtsSampler:
    """Accepts frames at ``fps`` per media second; ``accept`` is called for every decoded frame in order."""

    def __init__(self, fps: float, max_gap_s: float = 5.0) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.interval = 1.0 / fps
        self.max_gap_s = max_gap_s
        self._next: float | None = None

    def set_fps(self, fps: float) -> None:
        """A new rate from the next sampled frame on (the worker lowers it when it falls behind)."""
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.interval = 1.0 / fps

    def accept(self, pts: float) -> bool:
        if self._next is None or pts < self._next - self.interval - _EPSILON or pts > self._next + self.max_gap_s:
            self._next = pts  # first frame, a restart or a long gap: restart the sampling grid here
        if pts + _EPSILON < self._next:
            return False
        self._next += self.interval
        if self._next <= pts:  # frames were missing: schedule from this frame, not from a stale grid
            self._next = pts + self.interval
        return True
