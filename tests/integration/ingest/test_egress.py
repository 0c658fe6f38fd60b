"""The egress proxy with real FFmpeg (PyAV) and a real HTTP server on loopback: refused addresses never get a
connection, allowed ones play, and the URLs an HLS playlist names are judged like the playlist itself."""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest

from service.ingest.address_policy import AddressPolicy
from service.ingest.egress import EgressProxy
from service.ingest.source import SourceError, VideoSource
from service.ingest.urls import SourcePolicy, parse_source
from tests.conftest import DATA, source_opts

GUARDED = SourcePolicy(addresses=AddressPolicy.parse(["127.0.0.0/8"]))  # lets the URL in; the proxy decides


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[str, int]]:
    """A directory served over HTTP on 127.0.0.1: the face clip, a 1.2 s MPEG-TS segment, two HLS playlists."""
    root = tmp_path_factory.mktemp("site")
    (root / "clip.mp4").write_bytes((DATA / "single_face.mp4").read_bytes())
    _write_segment(root / "seg0.ts")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    port = server.server_address[1]
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.2,\n{}\n#EXT-X-ENDLIST\n"
    (root / "relative.m3u8").write_text(playlist.format("seg0.ts"))
    (root / "elsewhere.m3u8").write_text(playlist.format(f"http://127.0.0.2:{port}/seg0.ts"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1", port
    server.shutdown()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def _write_segment(path: Path) -> None:
    with av.open(str(DATA / "single_face.mp4")) as source, av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("mpeg2video", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for index, frame in enumerate(source.decode(video=0)):
            if index == 36:
                break
            for packet in stream.encode(frame.reformat(320, 180, "yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def play(url: str, proxy: EgressProxy) -> tuple[int, str | None]:
    """Frames decoded through ``proxy``, and the reason the source stopped with (None: a file that ended)."""
    options = source_opts(analysis_fps=5, open_timeout_s=3, reconnect_attempts=0, http_proxy=proxy.url)
    source, count = VideoSource(parse_source(url, GUARDED), options, threading.Event()), 0
    try:
        for _ in source.frames():
            count += 1
    except SourceError as exc:
        return count, str(exc)
    return count, None


def test_a_refused_address_never_gets_a_connection(site):
    base, port = site
    proxy = EgressProxy(AddressPolicy()).start()  # the default: public addresses only
    try:
        count, reason = play(f"{base}:{port}/clip.mp4", proxy)
        assert count == 0 and "could not open stream" in reason and "403" in reason
        assert proxy.refused >= 1
    finally:
        proxy.stop()


def test_allowed_addresses_play_through_the_proxy_and_hls_segments_elsewhere_are_judged_too(site):
    base, port = site
    proxy = EgressProxy(AddressPolicy.parse(["127.0.0.1/32"])).start()
    try:
        assert play(f"{base}:{port}/seg0.ts", proxy) == (6, None)  # 1.2 s at 5 fps (this server cannot seek MP4)
        count, reason = play(f"{base}:{port}/relative.m3u8", proxy)
        assert count == 6 and reason.startswith("stream ended")  # HLS is live: its end is reported
        assert proxy.refused == 0
        count, _ = play(f"{base}:{port}/elsewhere.m3u8", proxy)  # the playlist is allowed, its segment's host not
        assert count == 0 and proxy.refused >= 1
    finally:
        proxy.stop()


def test_connect_tunnels_only_to_allowed_addresses(site):
    _, port = site
    for policy, status in ((AddressPolicy(), b"403"), (AddressPolicy.parse(["127.0.0.1/32"]), b"200")):
        proxy = EgressProxy(policy).start()
        try:
            host, proxy_port = proxy.url.removeprefix("http://").split(":")
            with socket.create_connection((host, int(proxy_port)), timeout=5) as sock:
                sock.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
                reply = sock.recv(4096)
                assert reply.split(b" ")[1] == status
                if status == b"200":
                    sock.sendall(b"GET /relative.m3u8 HTTP/1.0\r\n\r\n")
                    data = b""
                    while chunk := sock.recv(4096):
                        data += chunk
                    assert b"#EXTM3U" in data
        finally:
            proxy.stop()
