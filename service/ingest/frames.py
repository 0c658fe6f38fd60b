"""The message between ingest and inference: one sampled, converted frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VideoFrame:
    image: np.ndarray  # RGB uint8 (H, W, 3), long side capped by settings.max_frame_side
    pts: float  # media seconds, monotonic across loops and reconnects of one stream
    index: int  # sampled-frame number within the stream
    source_size: tuple[int, int]  # width, height of the decoded source frame
    decoded_at: float  # time.monotonic() when the frame left the decoder, for latency

    @property
    def scale(self) -> float:
        """Multiply image coordinates by this to get source-frame pixels."""
        return self.source_size[0] / self.image.shape[1]
