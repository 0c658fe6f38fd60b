"""End to end: POST a real face clip, receive its emotion timeline over the WebSocket, read stats and history."""

from __future__ import annotations

import asyncio
import json
import math
import time

import httpx
import pytest
import redis
import websockets

from service.bus.keys import Keys
from service.bus.registry import StreamRegistry
from tests.conftest import DATA
from tests.e2e.conftest import wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.redis]


async def collect_until_terminal(ws_url: str, timeout: float = 180) -> list[dict]:
    """Every message of a stream from the start of its history (``since=0`` unless the URL gives one)."""
    messages: list[dict] = []
    if "since=" not in ws_url:
        ws_url += "?since=0"
    async with websockets.connect(ws_url) as ws:
        async with asyncio.timeout(timeout):
            async for raw in ws:
                message = json.loads(raw)
                messages.append(message)
                if message["type"] == "status" and message["status"] in {"ended", "failed", "stopped"}:
                    return messages
    return messages


def post(base: str, body: dict) -> dict:
    response = httpx.post(f"{base}/streams", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_face_clip_gives_a_live_timeline_stats_and_a_clean_end(service):
    stream = post(service.base, {"url": str(DATA / "single_face.mp4"), "name": "one face", "analysis_fps": 10})
    messages = asyncio.run(collect_until_terminal(f"{service.ws}/ws/streams/{stream['id']}"))
    faces = [m for m in messages if m["type"] == "face"]
    stats = [m for m in messages if m["type"] == "stats"]
    statuses = [m["status"] for m in messages if m["type"] == "status"]
    assert statuses[0] == "starting" and statuses[-1] == "ended" and "running" in statuses
    assert len(faces) == 24  # 72 frames at 30 fps sampled at 10 fps, one face each
    assert {f["track_id"] for f in faces} == {1}
    for face in faces:
        assert face["stream_id"] == stream["id"]
        assert math.isclose(sum(face["probs"].values()), 1.0, abs_tol=1e-3)
        # the shown label is held until another class clearly leads (LabelHold), so it need not be the argmax
        assert face["label"] in face["probs"] and face["confidence"] == round(face["probs"][face["label"]], 4)
        assert face["frame_label"] in face["probs"]
        assert face["polarity"] in {"positive", "negative", "neutral"}
        x1, y1, x2, y2 = face["box"]
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 360
        assert len(face["landmarks"]) == 5
    assert [round(f["pts"], 2) for f in faces] == [round(i / 10, 2) for i in range(24)]
    labels = [f["label"] for f in faces]
    assert labels[0] == "neutral" and labels[-1] == "happy"  # the clip's neutral -> smile, followed
    assert sum(a != b for a, b in zip(labels, labels[1:], strict=False)) == 1  # and nothing else
    assert stats, "no stats ticks"
    final = stats[-1]
    assert math.isclose(sum(final["shares"].values()), 1.0, abs_tol=1e-3)
    assert final["face_frames"] == 24 and final["frames"] == 24 and final["coverage"] == 1.0
    ids = [m["id"] for m in messages]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))  # history order

    info = wait_for_status(service.base, stream["id"], {"ended"})
    assert info["reason"] == "end of stream"
    assert info["counters"]["frames_analysed"] == 24 and info["counters"]["faces"] == 24
    rest = httpx.get(f"{service.base}/streams/{stream['id']}/stats").json()
    assert rest["stats"]["face_frames"] == 24
    history = httpx.get(f"{service.base}/streams/{stream['id']}/events", params={"type": "face", "limit": 1000}).json()
    assert [e["id"] for e in history["events"]] == [f["id"] for f in faces]


def test_resume_after_disconnect_replays_the_gap(service):
    stream = post(service.base, {"url": str(DATA / "carphone_pristine.mp4"), "analysis_fps": 5})
    everything = asyncio.run(collect_until_terminal(f"{service.ws}/ws/streams/{stream['id']}"))
    middle = everything[len(everything) // 2]["id"]
    resumed = asyncio.run(collect_until_terminal(f"{service.ws}/ws/streams/{stream['id']}?since={middle}"))
    assert [m["id"] for m in resumed] == [m["id"] for m in everything[len(everything) // 2 + 1 :]]


def test_no_face_clip_gives_no_faces_and_ends_cleanly(service):
    stream = post(service.base, {"url": str(DATA / "no_face.mp4"), "analysis_fps": 5})
    messages = asyncio.run(collect_until_terminal(f"{service.ws}/ws/streams/{stream['id']}"))
    assert not [m for m in messages if m["type"] == "face"]
    assert messages[-1]["status"] == "ended"
    final = [m for m in messages if m["type"] == "stats"][-1]
    assert final["face_frames"] == 0 and final["coverage"] == 0.0 and final["frames"] > 0


def test_url_that_does_not_exist_fails_with_a_reason(service):
    stream = post(service.base, {"url": "http://127.0.0.1:9/missing/stream.mp4"})
    info = wait_for_status(service.base, stream["id"], {"failed"}, timeout=60)
    assert "could not open stream" in info["reason"]
    healthy = httpx.get(f"{service.base}/healthz").json()
    assert healthy["workers"] >= 1  # the worker survived


def test_corrupt_file_fails_without_killing_the_worker(service, tmp_path):
    junk = tmp_path / "broken.mp4"
    junk.write_bytes((DATA / "single_face.mp4").read_bytes()[:4000])
    stream = post(service.base, {"url": str(junk)})
    info = wait_for_status(service.base, stream["id"], {"failed", "ended"}, timeout=60)
    assert info["reason"]
    follow_up = post(service.base, {"url": str(DATA / "no_face.mp4"), "analysis_fps": 2})
    assert wait_for_status(service.base, follow_up["id"], {"ended"})["status"] == "ended"


def test_delete_stops_a_running_stream(service):
    stream = post(
        service.base, {"url": str(DATA / "single_face.mp4"), "analysis_fps": 2, "realtime": True, "loop": True}
    )
    wait_for_status(service.base, stream["id"], {"running"})
    response = httpx.delete(f"{service.base}/streams/{stream['id']}")
    assert response.status_code == 200
    info = wait_for_status(service.base, stream["id"], {"stopped"}, timeout=30)
    assert info["reason"] == "stopped by request"


def test_unknown_stream_websocket_is_closed_with_4404(service):
    async def attempt() -> int:
        async with websockets.connect(f"{service.ws}/ws/streams/nope") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            return closed.value.rcvd.code

    assert asyncio.run(attempt()) == 4404


def test_metrics_show_the_workers_latency_and_stream_counters(service):
    stream = post(service.base, {"url": str(DATA / "single_face.mp4"), "analysis_fps": 5})
    wait_for_status(service.base, stream["id"], {"ended"})
    deadline = time.time() + 15
    while time.time() < deadline:
        text = httpx.get(f"{service.base}/metrics").text
        if 'se_worker_latency_ms{quantile="p50"' in text:
            break
        time.sleep(0.2)
    assert 'se_worker_latency_ms{quantile="p50"' in text
    assert f'se_stream_frames_analysed_total{{stream="{stream["id"]}"}} 12.0' in text
    assert 'se_worker_stage_items_total{stage="detect"' in text


def test_purging_a_running_stream_leaves_no_keys_and_only_404s(service, redis_url):
    stream = post(
        service.base, {"url": str(DATA / "single_face.mp4"), "analysis_fps": 5, "realtime": True, "loop": True}
    )
    wait_for_status(service.base, stream["id"], {"running"})
    time.sleep(1.5)  # the worker is publishing faces, stats and progress
    response = httpx.delete(f"{service.base}/streams/{stream['id']}", params={"purge": "true"}, timeout=30)
    assert response.status_code == 204
    client = redis.Redis.from_url(redis_url)
    for _ in range(3):  # and it stays gone while the worker would have written again
        assert [k for k in client.scan_iter(f"{service.settings.key_prefix}:*{stream['id']}*")] == []
        for path in ("", "/events", "/stats", "/characters"):
            assert httpx.get(f"{service.base}/streams/{stream['id']}{path}").status_code == 404
        assert httpx.delete(f"{service.base}/streams/{stream['id']}").status_code == 404
        time.sleep(0.5)


def test_a_stream_started_again_continues_its_clock_and_frame_numbers(service, redis_url):
    body = {"url": str(DATA / "single_face.mp4"), "analysis_fps": 5, "realtime": True, "loop": True}
    stream = post(service.base, body)
    wait_for_status(service.base, stream["id"], {"running"})
    time.sleep(2)
    assert httpx.delete(f"{service.base}/streams/{stream['id']}").status_code == 200
    wait_for_status(service.base, stream["id"], {"stopped"})
    registry = StreamRegistry(redis.Redis.from_url(redis_url, decode_responses=True), Keys(service.settings.key_prefix))
    registry.resume(stream["id"])  # as a restart or another worker's takeover would: the source opens again
    wait_for_status(service.base, stream["id"], {"running"})
    time.sleep(2)
    httpx.delete(f"{service.base}/streams/{stream['id']}")
    wait_for_status(service.base, stream["id"], {"stopped"})
    history = httpx.get(f"{service.base}/streams/{stream['id']}/events", params={"type": "frame", "limit": 1000})
    frames = history.json()["events"]
    statuses = httpx.get(f"{service.base}/streams/{stream['id']}/events", params={"type": "status"}).json()
    assert [m["status"] for m in statuses["events"]].count("stopped") == 2 and len(frames) >= 10  # two runs
    assert all(b["pts"] > a["pts"] for a, b in zip(frames, frames[1:], strict=False))  # time never runs backwards
    assert [f["frame"] for f in frames] == list(range(frames[0]["frame"], frames[0]["frame"] + len(frames)))
