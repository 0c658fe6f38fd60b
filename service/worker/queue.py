"""A bounded frame queue: live sources drop the oldest frame when full (counted), files wait for room.

Live analysis must never fall further and further behind: when inference is slower than a live source,
the frames waiting longest are the least useful ones. A file read as fast as possible has no such clock,
so its decoder simply waits, and every sampled frame is analysed.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FrameQueue(Generic[T]):
    def __init__(self, maxsize: int, drop_oldest: bool) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._drop_oldest = drop_oldest
        self._room = threading.Condition()
        self.dropped = 0

    def put(self, item: T, stop: threading.Event) -> None:
        """Adds ``item``; when full, drops the oldest (live) or waits for room until ``stop`` is set (file)."""
        with self._room:
            while len(self._items) >= self._maxsize:
                if self._drop_oldest:
                    self._items.popleft()
                    self.dropped += 1
                    break
                if stop.is_set():
                    return
                self._room.wait(timeout=0.1)
            self._items.append(item)

    @property
    def live(self) -> bool:
        """A live (or real-time) source's queue: its frames age while they wait."""
        return self._drop_oldest

    def get_nowait(self) -> T | None:
        with self._room:
            if not self._items:
                return None
            item = self._items.popleft()
            self._room.notify()
            return item

    def __len__(self) -> int:
        with self._room:
            return len(self._items)
