"""The worker process: claims streams from Redis, decodes each in its own thread, analyses all in one loop.

Decode threads (PyAV releases the GIL) fill one bounded queue per stream; a single inference loop owns the
device and batches frames across streams. The same loop renews leases, honours stop requests, writes the
heartbeat and finalises streams, so no state is shared between threads except the queues. A stream's
final status is published after its last face event. On shutdown the worker releases its leases and puts
its streams back for another worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import cv2
import redis

from service.bus.publisher import Publisher
from service.bus.registry import StreamRegistry
from service.config import Settings
from service.ingest.frames import VideoFrame
from service.ingest.source import SourceError, SourceOptions, VideoSource
from service.ingest.urls import InvalidSourceError, parse_source
from service.schemas import StatusEvent, StreamInfo, StreamStatus
from service.timeline import rule_from_spec
from service.worker.analyzer import FrameAnalyzer, StreamAnalysis
from service.worker.queue import FrameQueue

log = logging.getLogger(__name__)
KEYFRAME_EVERY_S = 5.0  # media seconds between stored keyframes (heatmap backdrops)


def latency_quantiles(samples: deque[float]) -> dict[str, float]:
    """p50/p95/max of recent decode-to-publish latencies; empty before the first frame."""
    if not samples:
        return {}
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": pick(0.5), "p95": pick(0.95), "max": round(ordered[-1], 1)}


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class StreamJob:
    """One claimed stream: its decode thread, frame queue, analysis state and final outcome."""

    info: StreamInfo
    source: VideoSource | None
    queue: FrameQueue[VideoFrame]
    analysis: StreamAnalysis
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    final: tuple[StreamStatus, str | None] | None = None
    thread: threading.Thread | None = None
    last_progress: float = 0.0
    rules_version: int = 0
    next_keyframe: float = 0.0

    def decode(self) -> None:
        try:
            if self.source is None:
                return
            for frame in self.source.frames():
                self.queue.put(frame, self.stop)
                if self.stop.is_set():
                    break
            if not self.stop.is_set():
                self.final = (StreamStatus.ENDED, "end of stream")
        except SourceError as exc:
            self.final = (StreamStatus.FAILED, str(exc))
        except Exception as exc:  # a bad stream must never take the worker down
            log.exception("stream %s: decoder crashed", self.info.id)
            self.final = (StreamStatus.FAILED, f"internal decoder error: {type(exc).__name__}: {exc}")
        finally:
            self.done.set()


class Worker:
    def __init__(
        self,
        settings: Settings,
        registry: StreamRegistry,
        publisher: Publisher,
        analyzer: FrameAnalyzer,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.publisher = publisher
        self.analyzer = analyzer
        self.worker_id = worker_id or settings.worker_id or default_worker_id()
        self.jobs: dict[str, StreamJob] = {}
        self.latencies_ms: deque[float] = deque(maxlen=1000)  # decode -> published, recent frames
        self._next_poll = 0.0

    # lifecycle
    def run(self, stop: threading.Event) -> None:
        log.info("worker %s started", self.worker_id)
        outage = 0
        try:
            while not stop.is_set():
                try:
                    self._step(stop)
                    outage = 0
                except redis.RedisError as exc:  # Redis restarting: wait and retry, never die
                    outage += 1
                    delay = min(0.5 * 2**outage, 10.0)
                    log.warning("Redis unavailable (%s); retrying in %.1fs", exc, delay)
                    stop.wait(delay)
        finally:
            self._shutdown()

    def _step(self, stop: threading.Event) -> None:
        now = time.monotonic()
        if now >= self._next_poll:
            self._poll()
            self._next_poll = now + self.settings.poll_interval_s
        if not self._analyze_round():
            stop.wait(0.02)
        self._finalize_done()

    def _shutdown(self) -> None:
        try:
            self._finalize_done()  # streams that already ended are finished, not handed over
        except redis.RedisError as exc:
            log.warning("could not finalise ended streams: %s", exc)
        for job in self.jobs.values():
            job.stop.set()
        for stream_id, job in list(self.jobs.items()):
            if job.thread:
                job.thread.join(timeout=5)
            try:
                self.registry.set_status(
                    stream_id, StreamStatus.STARTING, "worker shut down; waiting for another worker"
                )
                self.registry.release(stream_id, self.worker_id)
            except redis.RedisError as exc:  # the lease expires by itself
                log.warning("could not hand stream %s back: %s", stream_id, exc)
        self.jobs.clear()
        log.info("worker %s stopped", self.worker_id)

    # control
    def _poll(self) -> None:
        info = {
            "streams": sorted(self.jobs),
            "time": time.time(),
            "stages": self.analyzer.timer.summary(),
            "latency_ms": latency_quantiles(self.latencies_ms),
        }
        self.registry.heartbeat(self.worker_id, info, ttl_s=self.settings.lease_ttl_s)
        for stream_id, job in list(self.jobs.items()):
            if not self.registry.renew(stream_id, self.worker_id, self.settings.lease_ttl_s):
                log.warning("lost lease of stream %s; dropping it", stream_id)
                job.stop.set()
                self.jobs.pop(stream_id)
                continue
            desired, version = self.registry.control(stream_id)
            if desired != "run":
                job.stop.set()
            elif version != job.rules_version:
                self._apply_rules(job, version)
        if len(self.jobs) < self.settings.max_streams_per_worker:
            for stream_id in self.registry.claimable():
                if len(self.jobs) >= self.settings.max_streams_per_worker:
                    break
                if self.registry.claim(stream_id, self.worker_id, self.settings.lease_ttl_s):
                    self._start(stream_id)

    def _start(self, stream_id: str) -> None:
        info = self.registry.get(stream_id)
        if info is None:
            self.registry.release(stream_id, self.worker_id)
            return
        try:
            analysis = self.analyzer.new_stream(stream_id, tuple(rule_from_spec(r) for r in info.alert_rules))
            spec = parse_source(info.url, self.settings.allow_local_files)
        except (InvalidSourceError, ValueError) as exc:
            analysis = self.analyzer.new_stream(stream_id)
            job = StreamJob(
                info, None, FrameQueue(1, drop_oldest=True), analysis, final=(StreamStatus.FAILED, str(exc))
            )
            job.done.set()
            self.jobs[stream_id] = job
            return
        options = SourceOptions(
            analysis_fps=info.analysis_fps,
            realtime=info.realtime,
            loop=info.loop,
            open_timeout_s=self.settings.open_timeout_s,
            read_timeout_s=self.settings.read_timeout_s,
            reconnect_attempts=self.settings.reconnect_attempts,
            reconnect_backoff_s=self.settings.reconnect_backoff_s,
            max_frame_side=self.settings.max_frame_side,
        )
        stop = threading.Event()
        source = VideoSource(spec, options, stop, on_status=lambda s, r: self._status(stream_id, s, r))
        queue: FrameQueue[VideoFrame] = FrameQueue(
            self.settings.frame_queue_size, drop_oldest=spec.live or info.realtime
        )
        job = StreamJob(info, source, queue, analysis, stop=stop, rules_version=self.registry.control(stream_id)[1])
        job.thread = threading.Thread(target=job.decode, name=f"decode-{stream_id}", daemon=True)
        self.jobs[stream_id] = job
        self.registry.set_status(stream_id, StreamStatus.STARTING, None, worker=self.worker_id)
        job.thread.start()
        log.info("stream %s claimed: %s", stream_id, info.url)

    def _apply_rules(self, job: StreamJob, version: int) -> None:
        info = self.registry.get(job.info.id)
        if info is not None:
            try:
                job.analysis.alerts.set_rules([rule_from_spec(r) for r in info.alert_rules])
                log.info("stream %s: %d alert rules applied", job.info.id, len(info.alert_rules))
            except ValueError as exc:
                log.warning("stream %s: alert rules rejected, keeping the previous ones: %s", job.info.id, exc)
        job.rules_version = version

    def _status(self, stream_id: str, status: StreamStatus, reason: str | None) -> None:
        """Called from decode threads on RUNNING / RECONNECTING; a Redis outage must not fail the stream."""
        job = self.jobs.get(stream_id)
        pts = job.analysis.last_pts if job else None
        message = StatusEvent(stream_id=stream_id, status=status, reason=reason, pts=pts)
        try:
            self.registry.set_status(stream_id, status, reason, worker=self.worker_id)
            self.publisher.emit(stream_id, [message.model_dump(mode="json", exclude={"id"})])
        except redis.RedisError as exc:
            log.warning("stream %s: could not publish status %s: %s", stream_id, status.value, exc)

    # analysis
    def _analyze_round(self) -> bool:
        batch = []
        for job in self.jobs.values():
            frame = job.queue.get_nowait()
            if frame is not None:
                batch.append((job, frame))
        if not batch:
            return False
        try:
            messages = self.analyzer.analyze([(job.analysis, frame) for job, frame in batch])
        except Exception as exc:  # one bad batch fails its streams, not the worker
            log.exception("analysis failed")
            for job, _ in batch:
                job.final = (StreamStatus.FAILED, f"analysis error: {type(exc).__name__}: {exc}")
                job.stop.set()
            return True
        for stream_id, stream_messages in messages.items():
            self.publisher.emit(stream_id, stream_messages)
            if any(m["type"] == "stats" and m["track_id"] is None for m in stream_messages):  # a tick: new stats
                self.registry.set_latest_stats(stream_id, self.jobs[stream_id].analysis.latest_stats)
        now = time.monotonic()
        self.latencies_ms.extend((now - frame.decoded_at) * 1000 for _, frame in batch)
        for job, frame in batch:
            if frame.pts >= job.next_keyframe:
                ok, jpeg = cv2.imencode(
                    ".jpg", cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80]
                )
                if ok:
                    self.registry.set_keyframe(job.info.id, jpeg.tobytes())
                job.next_keyframe = frame.pts + KEYFRAME_EVERY_S
            if now - job.last_progress >= 1.0:
                self._progress(job)
                job.last_progress = now
        return True

    def _progress(self, job: StreamJob) -> None:
        suppressed = job.analysis.alerts.suppressed_counts()
        counters = {
            "frames_analysed": job.analysis.frames_analysed,
            "faces": job.analysis.faces,
            "frames_dropped": job.queue.dropped,
            "alerts": job.analysis.alerts_raised,
            "suppressed": sum(suppressed.values()),
        }
        self.registry.set_suppressed_counts(job.info.id, suppressed)
        if job.source is not None:
            counters |= {
                "frames_decoded": job.source.counters.decoded,
                "frames_sampled": job.source.counters.sampled,
                "reconnects": job.source.counters.reconnects,
            }
        self.registry.update_progress(job.info.id, counters, job.analysis.last_pts)

    def _finalize_done(self) -> None:
        for stream_id, job in list(self.jobs.items()):
            if not job.done.is_set() or len(job.queue):
                continue
            status, reason = job.final or (StreamStatus.STOPPED, "stopped by request")
            messages = []
            if job.analysis.frames_analysed:
                messages.extend(self.analyzer.stats_messages(job.analysis))
                self.registry.set_latest_stats(stream_id, job.analysis.latest_stats)
            messages.append(
                StatusEvent(stream_id=stream_id, status=status, reason=reason, pts=job.analysis.last_pts).model_dump(
                    mode="json", exclude={"id"}
                )
            )
            self.publisher.emit(stream_id, messages)
            self._progress(job)
            self.registry.set_status(stream_id, status, reason, worker=self.worker_id)
            self.registry.release(stream_id, self.worker_id)
            self.jobs.pop(stream_id)
            log.info("stream %s %s: %s", stream_id, status.value, reason)
