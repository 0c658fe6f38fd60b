"""The worker process: claims streams from Redis, decodes each in its own thread, analyses all in one loop.

Decode threads fill one bounded queue per stream (``jobs``); a single inference loop owns the device and
batches frames across streams. The same loop renews leases (``leases``), honours stop requests and rule
changes, writes the heartbeat and finalises streams, so no state is shared between threads except the
queues. A stream's final status is published after its last face event. On shutdown the worker releases
its leases and puts its streams back for another worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque

import numpy as np
import redis

from service import wire
from service.bus.gallery import GalleryStore
from service.bus.history import History
from service.bus.keyframes import KeyframeStore
from service.bus.publisher import Publisher
from service.bus.registry import StreamRegistry
from service.config import Settings
from service.identity.characters import GalleryEntry
from service.ingest.address_policy import AddressPolicy
from service.ingest.egress import EgressProxy
from service.ingest.source import ResumePoint, source_options
from service.ingest.urls import InvalidSourceError, SourcePolicy, parse_source, redact_url
from service.pipeline.analysis import StreamState, analyse, new_stream_state
from service.pipeline.faces import FacePipeline
from service.schemas import StreamStatus
from service.worker.enrolment import serve_one as serve_enrolment
from service.worker.governor import LoadGovernor
from service.worker.jobs import StreamJob
from service.worker.leases import LeaseKeeper
from service.worker.timing import LatencyHistogram

log = logging.getLogger(__name__)


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


class Worker:
    def __init__(
        self,
        settings: Settings,
        registry: StreamRegistry,
        publisher: Publisher,
        keyframes: KeyframeStore,
        pipeline: FacePipeline,
        gallery: GalleryStore,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.publisher = publisher
        self.keyframes = keyframes
        self.pipeline = pipeline
        self.gallery = gallery
        self._gallery_version = -1
        self._gallery: list[GalleryEntry] = []  # the named characters, reloaded when their version moves
        self.worker_id = worker_id or settings.worker_id or default_worker_id()
        self.leases = LeaseKeeper(registry, self.worker_id, settings.lease_ttl_s, settings.max_streams_per_worker)
        self.jobs: dict[str, StreamJob] = {}
        self.latencies_ms: deque[float] = deque(maxlen=1000)  # decode -> published, recent frames
        self.latency_histogram = LatencyHistogram()  # every frame since start: windows and workers add up
        self.governor = LoadGovernor(target_ms=settings.target_latency_ms)
        self._second: list[float] = []  # latencies of the frames analysed since the governor's last look
        self._dropped = 0  # frames dropped by every live queue, at the governor's last look
        self._next_govern = 0.0
        self._next_poll = 0.0
        self.sources = SourcePolicy.of(settings)
        # every HTTP(S) connection of every stream (HLS segments and redirects too) goes through this
        self.egress = EgressProxy(self.sources.addresses or AddressPolicy(), timeout_s=settings.read_timeout_s)

    # lifecycle
    def run(self, stop: threading.Event) -> None:
        log.info("worker %s started", self.worker_id)
        outage = 0
        self.egress.start()
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
            self.egress.stop()

    def _step(self, stop: threading.Event) -> None:
        now = time.monotonic()
        if now >= self._next_poll:
            self._poll()
            self._next_poll = now + self.settings.poll_interval_s
        identity = self.pipeline.identity
        if identity is not None:
            serve_enrolment(
                self.gallery.client, self.gallery.keys, self.pipeline.detector, identity.embedder, identity.gate
            )
        if now >= self._next_govern:
            self._govern()
            self._next_govern = now + 1.0
        if not self._analyse_round():
            stop.wait(0.02)
        self._finalise_done()

    def _shutdown(self) -> None:
        try:
            self._finalise_done()  # streams that already ended are finished, not handed over
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
                self.leases.release(stream_id)
            except redis.RedisError as exc:  # the lease expires by itself
                log.warning("could not hand stream %s back: %s", stream_id, exc)
        self.jobs.clear()
        log.info("worker %s stopped", self.worker_id)

    # control
    def _govern(self) -> None:
        """Once a second: behind on live streams, detect less often and then analyse fewer frames of them;
        caught up, back again."""
        dropped = sum(job.queue.dropped for job in self.jobs.values())
        median = float(np.median(self._second)) if self._second else None
        was_behind = self.governor.behind
        new_drops = max(0, dropped - self._dropped)
        self.governor.update(median, new_drops)
        if self.governor.behind != was_behind:
            if self.governor.behind:
                why = f"{new_drops} frames dropped" if new_drops else f"decode-to-publish median {median:.0f} ms"
                log.warning("worker %s is behind (%s in the last second): detecting less often, then analysing "
                            "fewer frames of its live streams", self.worker_id, why)  # fmt: skip
            else:
                log.info("worker %s caught up: every live stream at its requested rate again", self.worker_id)
        self._second, self._dropped = [], dropped
        self.pipeline.load = self.governor.stretch
        for job in self.jobs.values():
            if job.source is not None and job.queue.live:  # a file read at full speed paces itself
                job.source.set_analysis_fps(job.info.analysis_fps * self.governor.rate)

    def _poll(self) -> None:
        load = {"detect_interval_s": self.pipeline.detect_interval_s * self.governor.stretch,
                "analysis_rate": self.governor.rate}  # fmt: skip
        classifier = self.pipeline.classifier
        measures = {
            "stages": self.pipeline.timer.summary(),
            "latency_ms": latency_quantiles(self.latencies_ms),
            "latency_histogram": self.latency_histogram.snapshot(),
            "load": load,
            "device": str(classifier.device),
            "precision": classifier.precision,
        }
        self.leases.heartbeat(self.jobs, measures)
        for stream_id, job in list(self.jobs.items()):
            if not self.leases.renew(stream_id):
                log.warning("lost lease of stream %s; dropping it", stream_id)
                job.stop.set()
                self.jobs.pop(stream_id)
                continue
            desired, version = self.registry.control(stream_id)
            if desired != "run":
                job.stop.set()
            elif version != job.rules_version:
                info = self.registry.get(stream_id)
                if info is not None:
                    job.set_rules(info.alert_rules, version)
        for stream_id in self.leases.claim_new(len(self.jobs)):
            self._start(stream_id)
        self._sync_characters()

    def _sync_characters(self) -> None:
        """Applies gallery changes (names, deletions) and the streams' character commands (merge, exclude)."""
        if self.pipeline.identity is None:
            return
        version = self.gallery.version()
        if version != self._gallery_version:
            self._gallery = [
                GalleryEntry(c.character_id, c.name or "", tuple(self.gallery.embeddings(c.character_id)))
                for c in self.gallery.gallery()
            ]
            self._gallery_version = version
        for stream_id, job in self.jobs.items():
            identity = job.state.faces.identity
            if identity is None:
                continue
            messages = []
            if job.gallery_version != version:  # a new stream, or the gallery changed
                job.gallery_version = version
                for character_id in identity.book.set_gallery(self._gallery):
                    if character_id not in job.state.analytics.characters:
                        continue
                    character = identity.book.characters.get(character_id)
                    event = "named" if character is not None else "removed"
                    name = character.label if character is not None else None
                    messages.append(job.state.analytics.character_event(event, character_id, name))
            for command in self.gallery.pop_commands(stream_id):
                messages.extend(self._apply(job, command))
            if messages:
                self.publisher.emit(stream_id, messages)

    def _apply(self, job: StreamJob, command: dict) -> list[wire.Encoded]:
        """One character command of a stream: ``merge`` (source into target) or ``exclude`` (track, character)."""
        identity, analytics = job.state.faces.identity, job.state.analytics
        assert identity is not None
        book = identity.book
        if command.get("op") == "merge":
            source, target = command["source"], command["target"]
            moved = book.tracks_of(source)
            if source in book.characters and target in book.characters:
                book.characters[target].exemplars.extend(book.characters.pop(source).exemplars)
            for track_id in moved:
                book.reassign(track_id, target)
            name = book.characters[target].label if target in book.characters else None
            return [analytics.character_event("removed", source, name, merged_into=target)]
        if command.get("op") == "exclude":
            track_id, character_id = int(command["track_id"]), command["character_id"]
            out = [analytics.character_event("excluded", character_id, None, track_id=track_id)]
            book.exclude(track_id, character_id)
            return out
        log.warning("stream %s: unknown character command %r", job.info.id, command.get("op"))
        return []

    def _store_characters(self, job: StreamJob) -> None:
        """Writes what the stream's identity stage learned: new characters, exemplars, thumbnails."""
        identity = job.state.faces.identity
        if identity is None:
            return
        for character_id in identity.created:
            self.gallery.create(None, job.info.id, (), character_id=character_id)
        identity.created.clear()
        for character_id, exemplar in identity.book.changes:
            self.gallery.add_embedding(character_id, exemplar)
        identity.book.changes.clear()
        for character_id, chip in identity.thumbnails.items():
            if self.gallery.thumbnail(character_id) is None:
                self.gallery.put_thumbnail(character_id, chip)
        identity.thumbnails.clear()

    def _start(self, stream_id: str) -> None:
        info = self.registry.get(stream_id)
        if info is None:
            self.leases.release(stream_id)
            return
        try:
            state = new_stream_state(self.settings, self.pipeline, stream_id, info.alert_rules)
            spec = parse_source(info.url, self.sources)
        except (InvalidSourceError, ValueError) as exc:
            self.jobs[stream_id] = StreamJob.failed(
                info, new_stream_state(self.settings, self.pipeline, stream_id), str(exc)
            )
            return
        resume = self._resume_point(stream_id, info.analysis_fps)
        if resume is not None:
            self._restore_characters(stream_id, state)
        if info.status == StreamStatus.QUEUED:
            self._status(stream_id, StreamStatus.STARTING, None)  # subscribers see it leave the queue
        else:
            self.registry.set_status(stream_id, StreamStatus.STARTING, None, worker=self.worker_id)
        self.jobs[stream_id] = StreamJob.start(
            info,
            spec,
            source_options(self.settings, info.analysis_fps, info.realtime, info.loop, self.egress.url),
            state,
            self.settings.frame_queue_size,
            self.registry.control(stream_id)[1],
            on_status=lambda status, reason: self._status(stream_id, status, reason),
            resume=resume,
        )
        log.info("stream %s claimed: %s", stream_id, redact_url(info.url))

    def _restore_characters(self, stream_id: str, state: StreamState) -> None:
        """A resumed stream keeps the characters it discovered (same ids, names, screen time); named ones
        come back from the gallery like in every stream."""
        summaries = self.gallery.stream_summaries(stream_id)
        state.analytics.restore_characters(summaries)
        if state.faces.identity is None:
            return
        discovered = []
        for summary in summaries:
            stored = self.gallery.get(summary["character_id"])
            if stored is not None and not stored.named:
                embeddings = tuple(self.gallery.embeddings(stored.character_id))
                discovered.append(GalleryEntry(stored.character_id, summary["name"], embeddings))
        state.faces.identity.restore(discovered)

    def _resume_point(self, stream_id: str, analysis_fps: float) -> ResumePoint | None:
        point = History(self.registry.client, self.registry.keys).resume_point(stream_id, analysis_fps)
        return ResumePoint(*point) if point else None

    def _status(self, stream_id: str, status: StreamStatus, reason: str | None) -> None:
        """Called from decode threads on RUNNING / RECONNECTING; a Redis outage must not fail the stream."""
        job = self.jobs.get(stream_id)
        pts = job.state.analytics.counters.last_pts if job else None
        try:
            self.registry.set_status(stream_id, status, reason, worker=self.worker_id)
            self.publisher.emit(stream_id, [wire.encode(wire.status_message(stream_id, status, reason, pts))])
        except redis.RedisError as exc:
            log.warning("stream %s: could not publish status %s: %s", stream_id, status.value, exc)

    # analysis
    def _analyse_round(self) -> bool:
        batch = []
        for job in self.jobs.values():
            frame = job.queue.get_nowait()
            if frame is not None:
                batch.append((job, frame))
        if not batch:
            return False
        try:
            outputs = analyse(self.pipeline, [(job.state, frame) for job, frame in batch])
        except Exception as exc:  # one bad batch fails its streams, not the worker
            log.exception("analysis failed")
            for job, _ in batch:
                job.final = (StreamStatus.FAILED, f"analysis error: {type(exc).__name__}: {exc}")
                job.stop.set()
            return True
        for (job, frame), output in zip(batch, outputs, strict=True):
            self._store_characters(job)
            ids = self.publisher.emit(job.info.id, output.messages)
            for index, picture in job.evidence.pictures(frame, output):
                self.keyframes.put_alert_frame(job.info.id, ids[index], picture)
            if output.latest_stats is not None:
                self.registry.set_latest_stats(job.info.id, output.latest_stats)
        now = time.monotonic()
        latencies = [(now - frame.decoded_at) * 1000 for _, frame in batch]
        self.latencies_ms.extend(latencies)
        for ms in latencies:
            self.latency_histogram.observe(ms)
        self._second.extend(ms for (job, _), ms in zip(batch, latencies, strict=True) if job.queue.live)
        for job, frame in batch:
            if frame.pts >= job.next_keyframe:
                self.keyframes.put(job.info.id, frame.image, frame.pts)
                job.next_keyframe = frame.pts + self.settings.preview_interval_s
            if now - job.last_progress >= 1.0:
                self._progress(job)
                job.last_progress = now
        return True

    def _progress(self, job: StreamJob) -> None:
        self.gallery.put_stream_summaries(job.info.id, job.state.analytics.character_summaries(job.info.analysis_fps))
        self.registry.set_suppressed_counts(job.info.id, job.state.analytics.alerts.suppressed_counts())
        fps_now = job.source.fps_now if job.source is not None else None
        self.registry.update_progress(job.info.id, job.counters(), job.state.analytics.counters.last_pts, fps_now)

    def _finalise_done(self) -> None:
        for stream_id, job in list(self.jobs.items()):
            if not job.finished:
                continue
            status, reason = job.outcome()
            final = job.state.analytics.final()
            if final.latest_stats is not None:
                self.registry.set_latest_stats(stream_id, final.latest_stats)
            pts = job.state.analytics.counters.last_pts
            status_message = wire.encode(wire.status_message(stream_id, status, reason, pts))
            self.publisher.emit(stream_id, [*final.messages, status_message])
            self._progress(job)
            self.registry.set_status(stream_id, status, reason, worker=self.worker_id)
            self.leases.release(stream_id)
            self.jobs.pop(stream_id)
            log.info("stream %s %s: %s", stream_id, status.value, reason)
