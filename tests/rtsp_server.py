"""A real RTSP server for the live-protocol tests: GStreamer's gst-rtsp-server (Debian's
``gir1.2-gst-rtsp-server-1.0``), serving one H.264 file at ``rtsp://127.0.0.1:PORT/cam``, paced in real time,
one shared session for every client. Run with Debian's own Python (which has ``gi``):
``/usr/bin/python3 tests/rtsp_server.py PORT FILE.mp4``."""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, path = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{path}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
