"""PyAV source: open a URL or file, decode, sample by PTS, convert only the sampled frames.

Decoding is cheap and conversion is not, so one ``VideoReformatter`` (which caches its swscale context)
converts and downsizes only the frames the sampler keeps. Live sources reconnect with exponential backoff;
a file ends, or loops with media time carried forward. Status changes go to a callback; failures are
raised as ``SourceError`` with a readable reason, for the worker to publish, never to crash on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error
from av.video.reformatter import VideoReformatter

from service.config import Settings
from service.ingest.frames import VideoFrame
from service.ingest.sampling import PtsSampler
from service.ingest.urls import (
    HTTP_SCHEMES,
    InvalidSourceError,
    SourceSpec,
    pinned_url,
    redact_text,
    redact_url,
)
from service.schemas import StreamStatus

log = logging.getLogger(__name__)

StatusCallback = Callable[[StreamStatus, str | None], None]
# what FFmpeg may open for a guarded HTTP(S) source and the URLs its playlists name: no file:, data: or pipes
GUARDED_HTTP_PROTOCOLS = "http,https,tcp,tls,crypto,httpproxy"


class SourceError(RuntimeError):
    """The source could not be opened or read (after any reconnects); the message is the reason."""


class SourceEnded(SourceError):
    """A live source that had been delivering frames went away and did not come back within the reconnects:
    the broadcast is over (``ended``), not broken (``failed``)."""


@dataclass(frozen=True)
class SourceOptions:
    """How one stream is read; build it with ``source_options`` (the defaults live in ``Settings``)."""

    analysis_fps: float
    realtime: bool
    loop: bool
    open_timeout_s: float
    read_timeout_s: float
    reconnect_attempts: int
    reconnect_backoff_s: float
    max_frame_side: int
    http_proxy: str | None = None  # the worker's egress proxy (``service.ingest.egress``) for guarded HTTP(S)
    max_pixels: int = 3840 * 2160
    max_corrupt_run: int = 50
    max_file_duration_s: float = 6 * 3600.0


def source_options(
    settings: Settings,
    analysis_fps: float,
    realtime: bool = False,
    loop: bool = False,
    http_proxy: str | None = None,
) -> SourceOptions:
    """The options of one stream: its own rate and pacing, everything else from the settings."""
    return SourceOptions(
        analysis_fps=analysis_fps,
        realtime=realtime,
        loop=loop,
        open_timeout_s=settings.open_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        reconnect_attempts=settings.reconnect_attempts,
        reconnect_backoff_s=settings.reconnect_backoff_s,
        max_frame_side=settings.max_frame_side,
        http_proxy=http_proxy,
        max_pixels=settings.max_source_pixels,
        max_file_duration_s=settings.max_file_duration_s,
        max_corrupt_run=settings.max_corrupt_packets_in_a_row,
    )


@dataclass(frozen=True)
class ResumePoint:
    """Where a stream's history stopped: a source opened again (another worker, a restart) goes on from here."""

    next_pts: float
    next_frame: int


SKIP_NONREF_SHARE = 1 / 4  # analysing at most every fourth frame: non-reference frames are not decoded
FRAME_THREADS_ABOVE = 1920 * 1088  # pixels: larger frames decode on frame threads
DECODE_THREADS = 4  # per stream: a GPU host decodes 64 streams at once


def _choose_threads(stream: av.video.stream.VideoStream) -> None:
    """Slice threads up to 1080p, frame threads above. Frame threading holds back one decoded frame per thread
    (FFmpeg's default, cores + 1 threads, is 16 frames, 0.64 s of a 25 fps stream on a 16-core host, before our
    latency clock starts) and costs 4-15 % more CPU; one thread decodes 1080p at 180+ frames/s here, so only
    larger frames need it, and then from a few threads."""
    codec = stream.codec_context
    frame_threads = (codec.width or 0) * (codec.height or 0) > FRAME_THREADS_ABOVE
    stream.thread_type = "FRAME" if frame_threads else "SLICE"
    stream.thread_count = DECODE_THREADS


@dataclass
class DecodeCounters:
    decoded: int = 0
    sampled: int = 0
    reconnects: int = 0
    corrupt_packets: int = 0  # skipped: the decoder could not use them


def _target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    # even sizes keep swscale on its fast paths
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


# Failure reasons in plain words, most specific first (PyAV's errors subclass the builtin OSError family).
_PLAIN: tuple[tuple[type[BaseException], str], ...] = (
    (av.error.ExitError, "timeout: the source did not answer in time"),
    (av.error.HTTPUnauthorizedError, "HTTP 401: credentials needed"),
    (av.error.HTTPForbiddenError, "HTTP 403: forbidden (or its address is not allowed)"),
    (av.error.HTTPNotFoundError, "HTTP 404: not found"),
    (av.error.HTTPServerError, "HTTP 5xx: the server failed"),
    (av.error.HTTPClientError, "HTTP 4xx: the request was refused"),
    (av.error.HTTPError, "HTTP error"),
    (av.error.ProtocolNotFoundError, "unsupported protocol"),
    (av.error.InvalidDataError, "not a video: no known format in the data"),
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset"),
    (TimeoutError, "timeout: the source did not answer in time"),
    (FileNotFoundError, "no such file or stream"),
)


def _describe(exc: BaseException) -> str:
    """A reason a producer can read: plain words, then the library's own message (credentials redacted)."""
    plain = next((text for kind, text in _PLAIN if isinstance(exc, kind)), type(exc).__name__)
    return redact_text(f"{plain} ({exc})".strip())


class VideoSource:
    """Iterates sampled ``VideoFrame``s of one stream until it ends, fails or ``stop`` is set."""

    def __init__(
        self,
        spec: SourceSpec,
        options: SourceOptions,
        stop: threading.Event,
        on_status: StatusCallback | None = None,
        resume: ResumePoint | None = None,
    ) -> None:
        self.spec = spec
        self.options = options
        self.stop = stop
        self.on_status = on_status or (lambda status, reason: None)
        self.counters = DecodeCounters()
        self._reformatter = VideoReformatter()
        # added to PTS after a loop, a reconnect or a takeover, so that media time never goes back in a history
        self._media_offset = resume.next_pts if resume else 0.0
        self._last_pts = self._media_offset
        self._index = resume.next_frame if resume else 0
        self._first_index = self._index
        self._running = False
        self.fps_now = options.analysis_fps  # lowered by the worker while it is behind (``set_analysis_fps``)
        self._sampler: PtsSampler | None = None

    def set_analysis_fps(self, fps: float) -> None:
        """Analyse ``fps`` frames per media second from now on (called from the worker's thread)."""
        self.fps_now = fps
        if self._sampler is not None:
            self._sampler.set_fps(fps)

    def _open(self) -> av.container.InputContainer:
        url, options = self._target()
        return av.open(url, options=options, timeout=(self.options.open_timeout_s, self.options.read_timeout_s))

    def _target(self) -> tuple[str, dict[str, str]]:
        """What FFmpeg opens, checked again on every (re)connect: HTTP(S) and everything an HLS playlist names go
        through the egress proxy; other network protocols connect to the address just checked."""
        scheme = self.spec.scheme
        options = {"rtsp_transport": "tcp"} if scheme.startswith("rtsp") else {}
        if self.spec.local or self.spec.addresses is None:
            return self.spec.url, options
        if scheme in HTTP_SCHEMES:
            if self.options.http_proxy is None:
                raise InvalidSourceError("guarded HTTP sources need the worker's egress proxy")
            options.update(http_proxy=self.options.http_proxy, protocol_whitelist=GUARDED_HTTP_PROTOCOLS)
            return self.spec.url, options
        return pinned_url(self.spec), options

    def frames(self) -> Iterator[VideoFrame]:
        failures = 0
        while not self.stop.is_set():
            try:
                container = self._open()
            except InvalidSourceError as exc:
                failures += 1
                self._retry_or_raise(str(exc), failures)
                continue
            except (av.error.FFmpegError, OSError) as exc:
                failures += 1
                self._retry_or_raise(f"could not open stream: {_describe(exc)}", failures)
                continue
            produced = False
            try:
                for frame in self._decode(container):
                    produced = True
                    failures = 0
                    yield frame
            except (av.error.FFmpegError, OSError) as exc:
                if not self.spec.live:
                    raise SourceError(f"decode error: {_describe(exc)}") from exc
                failures += 1
                self._retry_or_raise(f"read error: {_describe(exc)}", failures)
                continue
            finally:
                container.close()
            if self.stop.is_set():
                return
            if self.spec.live:
                failures += 1
                self._retry_or_raise("stream ended" if produced else "stream gave no frames", failures)
                continue
            if self.options.loop and produced:
                self._media_offset = self._last_pts + 1.0 / self.options.analysis_fps
                continue
            if not produced and self._index == self._first_index:
                raise SourceError("no decodable video frames in source")
            return

    def _retry_or_raise(self, reason: str, failures: int) -> None:
        if not self.spec.live:
            raise SourceError(reason)
        if failures > self.options.reconnect_attempts:
            if self._index > self._first_index:  # it ran, then went away for good: the broadcast is over
                raise SourceEnded(f"{reason}; gave up after {failures - 1} reconnects")
            raise SourceError(reason)
        delay = min(self.options.reconnect_backoff_s * 2 ** (failures - 1), 30.0)
        self.counters.reconnects += 1
        self._running = False
        log.warning("%s: %s; reconnect %d in %.1fs", redact_url(self.spec.url), reason, failures, delay)
        self.on_status(StreamStatus.RECONNECTING, reason)
        self.stop.wait(delay)
        self._media_offset = self._last_pts + 1.0 / self.options.analysis_fps

    def _check_limits(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> None:
        """Refuses, with the numbers, a picture or a file larger than the service is set up for."""
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > self.options.max_pixels:
            raise SourceError(
                f"resolution {width}x{height} is above this service's limit of {self.options.max_pixels} pixels"
            )
        duration = container.duration / av.time_base if container.duration else None
        if not self.spec.live and duration is not None and duration > self.options.max_file_duration_s:
            limit = self.options.max_file_duration_s
            raise SourceError(f"file lasts {duration:.0f} s, longer than this service's limit of {limit:.0f} s")

    def _frames_of(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> Iterator[av.VideoFrame]:
        """Decoded frames, packet by packet: a corrupt packet is skipped and counted, as FFmpeg itself does;
        only a run of ``max_corrupt_run`` unusable packets in a row fails the source."""
        run = 0
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                self.counters.corrupt_packets += 1
                run += 1
                if run >= self.options.max_corrupt_run:
                    raise SourceError(f"{run} corrupt packets in a row: the source is not decodable") from None
                continue
            run = 0
            yield from frames

    def _decode(self, container: av.container.InputContainer) -> Iterator[VideoFrame]:
        if not container.streams.video:
            raise SourceError("source has no video stream")
        stream = container.streams.video[0]
        self._check_limits(container, stream)
        _choose_threads(stream)
        time_base = stream.time_base or Fraction(1, 90_000)
        rate = float(stream.average_rate or 25)
        if self.options.analysis_fps <= rate * SKIP_NONREF_SHARE:
            # frames no other frame refers to (most B-frames) are not decoded at all: on a 720p25 H.264 clip
            # 40 % less decoding CPU, and a sampled instant lands at most one more frame late
            stream.codec_context.skip_frame = "NONREF"
        sampler = self._sampler = PtsSampler(self.fps_now)  # a new grid per open: PTS restart with each container
        first_pts: float | None = None
        wall_start = 0.0
        if not self._running:  # once per start or recovery, not on every loop of a file
            self._running = True
            self.on_status(StreamStatus.RUNNING, None)
        for decoded, frame in enumerate(self._frames_of(container, stream)):
            if self.stop.is_set():
                return
            self.counters.decoded += 1
            raw = float(frame.pts * time_base) if frame.pts is not None else decoded / rate
            if first_pts is None:
                first_pts, wall_start = raw, time.monotonic()
            pts = self._media_offset + raw - first_pts
            if not sampler.accept(pts):
                continue
            if self.options.realtime:
                delay = wall_start + (raw - first_pts) - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    return
            width, height = _target_size(frame.width, frame.height, self.options.max_frame_side)
            image = self._reformatter.reformat(frame, width=width, height=height, format="rgb24").to_ndarray()
            self.counters.sampled += 1
            self._last_pts = pts
            yield VideoFrame(image, pts, self._index, (frame.width, frame.height), time.monotonic())
            self._index += 1
