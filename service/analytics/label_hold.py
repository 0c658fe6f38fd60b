"""Which label a track shows: the top class, but a new one only once it has clearly led for a while.

Why: the temporal head smooths the class probabilities, yet when two classes are close (fear against
surprise on a small, talking face) their order still swaps every few frames, and a timeline that swaps
with it is noise to a producer. A track keeps its label until another class has led it by at least
``margin`` (probability) for ``hold_s`` seconds of media time, then switches at once. A real change of
expression, which persists, shows up ``hold_s`` late; a swap shorter than that never shows.

Pure: media time in, labels out, per track; the caller forgets tracks that end and clears all at a cut.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np


@dataclass
class _Held:
    label: int
    challenger: int | None = None
    since: float = 0.0


class LabelHold:
    def __init__(self, margin: float = 0.1, hold_s: float = 0.3) -> None:
        if margin < 0 or hold_s < 0:
            raise ValueError("margin and hold_s must be >= 0")
        self.margin = margin
        self.hold_s = hold_s
        self._tracks: dict[Hashable, _Held] = {}

    def decide(self, track_id: Hashable, pts: float, probs: np.ndarray, occluded: bool = False) -> int:
        """Class index to show for this track at ``pts`` given its class probabilities now. While the face is
        ``occluded`` its label is held as it was (what the network reads then is the hand, not the face), and
        a challenger must start leading again once the face shows."""
        top = int(np.argmax(probs))
        held = self._tracks.get(track_id)
        if held is None:
            self._tracks[track_id] = _Held(top)
            return top
        if occluded:
            held.challenger = None
            return held.label
        if top == held.label or probs[top] - probs[held.label] < self.margin:
            held.challenger = None
            return held.label
        if held.challenger != top:
            held.challenger, held.since = top, pts
        if pts - held.since >= self.hold_s - 1e-9:  # media times are decimals: 0.7 - 0.4 < 0.3 in floats
            held.label, held.challenger = top, None
        return held.label

    def would_change(self, track_id: Hashable, pts: float, probs: np.ndarray) -> bool:
        """Whether ``decide`` with these arguments would switch the label (a look ahead; changes nothing). The
        occlusion stage scores such a face before the switch, so a label never changes on a covered face."""
        held = self._tracks.get(track_id)
        top = int(np.argmax(probs))
        if held is None or top == held.label or probs[top] - probs[held.label] < self.margin:
            return False
        since = held.since if held.challenger == top else pts
        return pts - since >= self.hold_s - 1e-9

    def keep_only(self, track_ids: Iterable[Hashable]) -> None:
        """Forget every track not listed (ended tracks; an empty list at a shot cut)."""
        keep = set(track_ids)
        self._tracks = {k: v for k, v in self._tracks.items() if k in keep}
