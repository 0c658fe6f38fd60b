"""Real live-protocol servers on loopback for the ingest tests, each fed by a real publisher:

- RTMP: nginx with ``libnginx-mod-rtmp``, published to by ``ffmpeg -re`` (FLV over RTMP);
- RTSP: GStreamer's RTSP server (``tests/rtsp_server.py``, Debian's Python with ``gi``) serving an H.264 file;
- HLS: ``ffmpeg -re`` writing a live playlist (rolling, no end tag) served by Python's ``http.server``.

``restart_server`` kills the server (and what dies with it) and starts it again on the same port;
``stop`` ends the broadcast for good. ``scripts/test.sh`` installs the Debian packages; the tests skip where
they are missing.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import DATA, free_port

CLIP = DATA / "single_face.mp4"
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
SYSTEM_PYTHON = "/usr/bin/python3"
NGINX_CONF = """load_module {module};
daemon off;
master_process off;
user root;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{}}
rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; record off; }} }} }}
"""


def missing(protocol: str) -> str | None:
    """Why ``protocol``'s server cannot run here, or None."""
    if shutil.which("ffmpeg") is None:
        return "needs Debian's ffmpeg"
    if protocol == "rtmp" and (shutil.which("nginx") is None or not RTMP_MODULE.is_file()):
        return "needs nginx and libnginx-mod-rtmp"
    if protocol == "rtsp":
        probe = [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"]
        if not Path(SYSTEM_PYTHON).is_file() or subprocess.run(probe, capture_output=True).returncode:
            return "needs gir1.2-gst-rtsp-server-1.0 and python3-gi"
    return None


def _spawn(command: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _end(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


class LiveServer:
    def __init__(self, protocol: str, workdir: Path) -> None:
        self.protocol, self.dir, self.port = protocol, workdir, free_port()
        self.server: subprocess.Popen | None = None
        self.publisher: subprocess.Popen | None = None
        self.log = workdir / f"{protocol}.log"
        if protocol == "rtsp":  # the server plays a file: make one long enough for the whole test
            self.media = workdir / "long.mp4"
            subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "40", "-i", str(CLIP),
                            "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-an", str(self.media)],
                           check=True)  # fmt: skip
        if protocol == "hls":
            (workdir / "hls").mkdir()

    @property
    def url(self) -> str:
        return {
            "rtmp": f"rtmp://127.0.0.1:{self.port}/live/cam",
            "rtsp": f"rtsp://127.0.0.1:{self.port}/cam",
            "hls": f"http://127.0.0.1:{self.port}/index.m3u8",
        }[self.protocol]

    def start(self) -> LiveServer:
        if self.protocol == "rtmp":
            conf = self.dir / "nginx.conf"
            conf.write_text(NGINX_CONF.format(module=RTMP_MODULE, dir=self.dir, port=self.port))
            self.server = _spawn(["nginx", "-c", str(conf), "-p", str(self.dir)], self.log)
            self._wait_port()
            self.publisher = _spawn(self._ffmpeg("flv", f"rtmp://127.0.0.1:{self.port}/live/cam"), self.log)
        elif self.protocol == "rtsp":
            script = Path(__file__).with_name("rtsp_server.py")
            self.server = _spawn([SYSTEM_PYTHON, str(script), str(self.port), str(self.media)], self.log)
            self._wait_port()
        else:
            if self.publisher is None or self.publisher.poll() is not None:
                hls = ["-hls_time", "1", "-hls_list_size", "6", "-hls_flags", "delete_segments+omit_endlist"]
                self.publisher = _spawn(self._ffmpeg("hls", str(self.dir / "hls" / "index.m3u8"), hls), self.log)
            http = [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                    "--directory", str(self.dir / "hls")]  # fmt: skip
            self.server = _spawn(http, self.log)
            self._wait_port()
            deadline = time.time() + 20
            while not (self.dir / "hls" / "index.m3u8").is_file():
                assert time.time() < deadline, "ffmpeg wrote no playlist"
                time.sleep(0.2)
        return self

    def restart_server(self, down_s: float = 2.0) -> None:
        """The server goes away mid-stream and comes back ``down_s`` later (RTMP: its publisher reconnects)."""
        _end(self.server)
        if self.protocol == "rtmp":
            _end(self.publisher)
        time.sleep(down_s)
        self.start()

    def stop(self) -> None:
        """The broadcast is over: server and publisher gone for good."""
        _end(self.publisher)
        _end(self.server)

    def _ffmpeg(self, fmt: str, target: str, extra: list[str] | None = None) -> list[str]:
        return ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(CLIP),
                "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-an",
                *(extra or []), "-f", fmt, target]  # fmt: skip

    def _wait_port(self) -> None:
        import socket

        deadline = time.time() + 20
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            assert time.time() < deadline, f"{self.protocol} server did not listen; see {self.log}"
            time.sleep(0.1)
