"""Live ingest end to end over real RTMP, RTSP and HLS servers on loopback (``tests/live_servers.py``).

For each protocol: the stream starts; the server is killed mid-stream and comes back, and the stream goes
``reconnecting`` then ``running`` again with media time and frame numbers carrying on (none repeated in the
history); when the broadcast stops for good the stream ends (``ended``, not ``failed``) after its reconnects.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
import redis

from service.bus.keys import Keys
from tests.conftest import DATA
from tests.e2e.conftest import running_service
from tests.live_servers import LiveServer, missing

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.redis]


@pytest.fixture(scope="module")
def live(redis_url):
    overrides = {"reconnect_attempts": 3, "reconnect_backoff_s": 0.5, "identity": False}
    with running_service(redis_url, f"live-{int(time.time())}", [DATA], **overrides) as running:
        yield running


def history(redis_url: str, prefix: str, stream_id: str) -> list[dict]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return [json.loads(fields["data"]) for _, fields in client.xrange(Keys(prefix).events(stream_id))]


def wait_for(condition, what: str, timeout: float = 60.0):
    deadline = time.time() + timeout
    while not (value := condition()):
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)
    return value


@pytest.mark.parametrize("protocol", ["rtmp", "rtsp", "hls"])
def test_a_live_stream_survives_a_server_restart_and_ends_when_the_broadcast_stops(live, redis_url, protocol, tmp_path):
    if reason := missing(protocol):
        pytest.skip(reason)
    server = LiveServer(protocol, tmp_path).start()
    prefix = live.settings.key_prefix
    try:
        stream = httpx.post(f"{live.base}/streams", json={"url": server.url, "analysis_fps": 5}).json()
        sid = stream["id"]

        def frames() -> list[dict]:
            return [m for m in history(redis_url, prefix, sid) if m["type"] == "frame"]

        def statuses() -> list[str]:
            return [m["status"] for m in history(redis_url, prefix, sid) if m["type"] == "status"]

        wait_for(lambda: len(frames()) >= 10, "the first analysed frames")
        assert "running" in statuses()
        before = len(frames())
        server.restart_server()
        wait_for(lambda: "reconnecting" in statuses(), "reconnecting")
        wait_for(lambda: len(frames()) >= before + 10 and statuses()[-1] == "running", "frames after the restart")
        server.stop()
        info = wait_for(
            lambda: (i := httpx.get(f"{live.base}/streams/{sid}").json())["status"] in {"ended", "failed"} and i,
            "the end of the stream",
        )
        assert info["status"] == "ended" and "gave up after 3 reconnects" in info["reason"], info
        seen = frames()
        numbers, times = [f["frame"] for f in seen], [f["pts"] for f in seen]
        assert numbers == sorted(set(numbers)) and all(b > a for a, b in zip(times, times[1:], strict=False))
        faces = [m for m in history(redis_url, prefix, sid) if m["type"] == "face"]
        assert len(faces) >= 0.8 * len(seen)  # the real face in the published clip, through every protocol
        assert statuses()[-1] == "ended"
    finally:
        server.stop()
