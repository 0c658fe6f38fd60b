"""Real decoding with PyAV: sampling by PTS, conversion size, looping, realtime pacing, failures."""

import socket
import threading
import time

import av
import numpy as np
import pytest

from service.ingest.source import DECODE_THREADS, SourceError, VideoSource, _choose_threads
from service.ingest.urls import SourcePolicy, parse_source
from service.schemas import StreamStatus
from tests.conftest import DATA, source_opts


def frames_of(name: str, **options):
    source = VideoSource(
        parse_source(str(DATA / name), SourcePolicy.operator()), source_opts(**options), threading.Event()
    )
    return source, list(source.frames())


def test_single_face_clip_sampled_at_10fps():
    source, frames = frames_of("single_face.mp4", analysis_fps=10)
    assert source.counters.decoded == 72
    assert len(frames) == 24
    assert [round(f.pts, 3) for f in frames[:4]] == [0.0, 0.1, 0.2, 0.3]
    assert [f.index for f in frames] == list(range(24))
    assert frames[0].image.shape == (360, 640, 3) and frames[0].image.dtype.name == "uint8"
    assert frames[0].source_size == (640, 360)


def test_frames_are_capped_to_max_side_and_scale_maps_back():
    _, frames = frames_of("single_face.mp4", analysis_fps=2, max_frame_side=320)
    assert frames[0].image.shape == (180, 320, 3)
    assert frames[0].scale == 2.0


def test_loop_keeps_media_time_increasing():
    stop = threading.Event()
    source = VideoSource(
        parse_source(str(DATA / "single_face.mp4"), SourcePolicy.operator()),
        source_opts(analysis_fps=5, loop=True),
        stop,
    )
    pts = []
    for frame in source.frames():
        pts.append(frame.pts)
        if len(pts) == 30:
            stop.set()
    assert len(pts) == 30
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False))
    assert pts[-1] == pytest.approx(29 * 0.2, abs=0.05)


def test_realtime_paces_to_media_time():
    began = time.monotonic()
    _, frames = frames_of("single_face.mp4", analysis_fps=5, realtime=True)
    elapsed = time.monotonic() - began
    assert frames[-1].pts == pytest.approx(2.2, abs=0.05)
    assert elapsed >= 2.1


def test_status_callback_reports_running():
    seen = []
    source = VideoSource(
        parse_source(str(DATA / "no_face.mp4"), SourcePolicy.operator()),
        source_opts(analysis_fps=1),
        threading.Event(),
        on_status=lambda s, r: seen.append(s),
    )
    assert len(list(source.frames())) > 0
    assert seen == [StreamStatus.RUNNING]


def test_unreachable_http_source_fails_with_a_reason():
    source = VideoSource(
        parse_source("http://127.0.0.1:9/missing.mp4", SourcePolicy.operator()),
        source_opts(analysis_fps=5, open_timeout_s=2),
        threading.Event(),
    )
    with pytest.raises(SourceError, match="could not open stream"):
        list(source.frames())


def test_live_source_reconnects_with_backoff_then_gives_up():
    statuses = []
    source = VideoSource(
        parse_source("rtsp://127.0.0.1:9/live", SourcePolicy.operator()),
        source_opts(analysis_fps=5, open_timeout_s=1, reconnect_attempts=2, reconnect_backoff_s=0.05),
        threading.Event(),
        on_status=lambda s, r: statuses.append(s),
    )
    with pytest.raises(SourceError, match="could not open stream"):
        list(source.frames())
    assert statuses == [StreamStatus.RECONNECTING, StreamStatus.RECONNECTING]
    assert source.counters.reconnects == 2


def test_file_that_is_not_video_fails_cleanly(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    source = VideoSource(
        parse_source(str(junk), SourcePolicy.operator()), source_opts(analysis_fps=5), threading.Event()
    )
    with pytest.raises(SourceError):
        list(source.frames())


def test_pictures_and_files_beyond_the_limits_are_refused_with_the_numbers():
    with pytest.raises(SourceError, match="resolution 640x360 is above this service's limit of 100000 pixels"):
        frames_of("single_face.mp4", analysis_fps=5, max_pixels=100_000)
    with pytest.raises(SourceError, match="file lasts 2 s, longer than this service's limit of 1 s"):
        frames_of("single_face.mp4", analysis_fps=5, max_file_duration_s=1)


def test_corrupt_packets_are_skipped_and_counted_not_fatal(tmp_path):
    data = bytearray((DATA / "single_face.mp4").read_bytes())
    for fraction in (0.3, 0.5, 0.7):  # three stretches of the picture data overwritten
        start = int(len(data) * fraction)
        data[start : start + 3000] = bytes((i * 97 + 13) % 256 for i in range(3000))
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(data)
    source = VideoSource(
        parse_source(str(damaged), SourcePolicy.operator()), source_opts(analysis_fps=30), threading.Event()
    )
    frames = list(source.frames())
    assert source.counters.corrupt_packets >= 1
    assert source.counters.decoded >= 60 and len(frames) >= 60  # of 72: the stream goes on after each bad packet


def test_a_source_that_never_answers_fails_with_timeout_in_plain_words():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        source = VideoSource(
            parse_source(f"http://127.0.0.1:{port}/live.mp4", SourcePolicy.operator()),
            source_opts(analysis_fps=5, open_timeout_s=1, read_timeout_s=1),
            threading.Event(),
        )
        began = time.monotonic()
        with pytest.raises(SourceError, match="timeout: the source did not answer in time"):
            list(source.frames())
        assert time.monotonic() - began < 10


def test_a_sparse_analysis_rate_decodes_no_unreferenced_frames_and_keeps_its_grid():
    every, frames = frames_of("single_face.mp4", analysis_fps=10)  # every third frame: all decoded
    sparse, sampled = frames_of("single_face.mp4", analysis_fps=5)  # every sixth: B-frames skipped
    assert every.counters.decoded == 72 and sparse.counters.decoded < 60
    assert len(sampled) == 12
    assert all(abs(f.pts - 0.2 * i) <= 1 / 30 + 1e-6 for i, f in enumerate(sampled))


def _clip(path, width: int, height: int):
    with av.open(str(path), "w") as target:
        stream = target.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                target.mux(packet)
        for packet in stream.encode():
            target.mux(packet)
    return path


@pytest.mark.parametrize(("size", "threading"), [((1920, 1080), "SLICE"), ((2560, 1440), "FRAME")])
def test_frames_up_to_1080p_decode_on_slice_threads_and_larger_ones_on_a_few_frame_threads(tmp_path, size, threading):
    with av.open(str(_clip(tmp_path / "clip.mp4", *size))) as container:
        stream = container.streams.video[0]
        _choose_threads(stream)
        assert stream.thread_type.name == threading and stream.thread_count == DECODE_THREADS
        assert sum(1 for _ in container.decode(stream)) == 3
