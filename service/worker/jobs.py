"""One claimed stream: its decode thread, frame queue, analysis state, counters and final outcome.

The decode thread (PyAV releases the GIL) only fills the job's bounded queue and records why it stopped;
everything that touches Redis or the models runs on the worker's inference loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from service.analytics import AlertRule
from service.ingest.frames import VideoFrame
from service.ingest.source import ResumePoint, SourceEnded, SourceError, SourceOptions, VideoSource
from service.ingest.urls import SourceSpec
from service.pipeline.analysis import StreamState
from service.schemas import StreamInfo, StreamStatus
from service.worker.evidence import EvidenceFrames
from service.worker.queue import FrameQueue

log = logging.getLogger(__name__)

StatusCallback = Callable[[StreamStatus, str | None], None]


@dataclass
class StreamJob:
    info: StreamInfo
    source: VideoSource | None
    queue: FrameQueue[VideoFrame]
    state: StreamState
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    final: tuple[StreamStatus, str | None] | None = None
    thread: threading.Thread | None = None
    last_progress: float = 0.0
    rules_version: int = 0
    next_keyframe: float = 0.0
    evidence: EvidenceFrames = field(default_factory=EvidenceFrames)  # alert pictures
    gallery_version: int = -1  # the gallery its character book holds; -1: none yet
    base_counters: dict[str, int] = field(default_factory=dict)  # from the stream's earlier runs (takeover)

    @classmethod
    def failed(cls, info: StreamInfo, state: StreamState, reason: str) -> StreamJob:
        """A job that ends at once with ``reason`` (a URL or rule the worker cannot take)."""
        job = cls(info, None, FrameQueue(1, drop_oldest=True), state, final=(StreamStatus.FAILED, reason))
        job.done.set()
        return job

    @classmethod
    def start(
        cls,
        info: StreamInfo,
        spec: SourceSpec,
        options: SourceOptions,
        state: StreamState,
        queue_size: int,
        rules_version: int,
        on_status: StatusCallback,
        resume: ResumePoint | None = None,
    ) -> StreamJob:
        """Opens the source in a new decode thread; frames queue up for the inference loop. With ``resume`` (the
        stream ran before) media time, frame numbers and counters carry on from the earlier run."""
        stop = threading.Event()
        source = VideoSource(spec, options, stop, on_status=on_status, resume=resume)
        queue: FrameQueue[VideoFrame] = FrameQueue(queue_size, drop_oldest=spec.live or info.realtime)
        base = info.counters.model_dump() if resume else {}
        job = cls(info, source, queue, state, stop=stop, rules_version=rules_version, base_counters=base)
        job.thread = threading.Thread(target=job._decode, name=f"decode-{info.id}", daemon=True)
        job.thread.start()
        return job

    def _decode(self) -> None:
        try:
            assert self.source is not None
            for frame in self.source.frames():
                self.queue.put(frame, self.stop)
                if self.stop.is_set():
                    break
            if not self.stop.is_set():
                self.final = (StreamStatus.ENDED, "end of stream")
        except SourceEnded as exc:
            self.final = (StreamStatus.ENDED, str(exc))
        except SourceError as exc:
            self.final = (StreamStatus.FAILED, str(exc))
        except Exception as exc:  # a bad stream must never take the worker down
            log.exception("stream %s: decoder crashed", self.info.id)
            self.final = (StreamStatus.FAILED, f"internal decoder error: {type(exc).__name__}: {exc}")
        finally:
            self.done.set()

    @property
    def finished(self) -> bool:
        """The decoder stopped and every frame it queued has been analysed."""
        return self.done.is_set() and not len(self.queue)

    def outcome(self) -> tuple[StreamStatus, str | None]:
        return self.final or (StreamStatus.STOPPED, "stopped by request")

    def set_rules(self, rules: list[AlertRule], version: int) -> None:
        """Applies new alert rules; rules the engine rejects leave the previous ones in force."""
        try:
            self.state.analytics.alerts.set_rules(rules)
            log.info("stream %s: %d alert rules applied", self.info.id, len(rules))
        except ValueError as exc:
            log.warning("stream %s: alert rules rejected, keeping the previous ones: %s", self.info.id, exc)
        self.rules_version = version

    def counters(self) -> dict[str, int]:
        """The stream's progress counters, as the registry stores them."""
        analytics = self.state.analytics
        counters = {
            "frames_analysed": analytics.counters.frames_analysed,
            "faces": analytics.counters.faces,
            "frames_dropped": self.queue.dropped,
            "alerts": analytics.counters.alerts,
            "suppressed": sum(analytics.alerts.suppressed_counts().values()),
        }
        if self.source is not None:
            counters |= {
                "frames_decoded": self.source.counters.decoded,
                "frames_sampled": self.source.counters.sampled,
                "reconnects": self.source.counters.reconnects,
                "corrupt_packets": self.source.counters.corrupt_packets,
            }
        return {name: value + self.base_counters.get(name, 0) for name, value in counters.items()}
