"""The WebSocket against a real Redis (no worker): an opening snapshot instead of the whole history, bounded
catch-ups, future and malformed ``since``, odd paths answered at once, resumption across an API restart."""

import asyncio
import json
import time

import httpx
import pytest
import websockets
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from service.analytics import AlertEvent
from service.api.app import create_app
from service.bus.keys import Keys
from service.bus.publisher import Publisher
from service.config import Settings
from service.wire import alert_message, encode
from tests.conftest import LOOPBACK, serving
from tests.integration.api.test_api import face_message

pytestmark = pytest.mark.redis


def alert(stream_id: str, pts: float) -> dict:
    event = AlertEvent("alert", "r", "negative_share", ">", 0.5, 0.7, True, (), pts, pts - 60, pts, {})
    return alert_message(stream_id, event)


@pytest.fixture
def setup(redis_url, key_prefix, client):
    settings = Settings(key_prefix=key_prefix, source_allow_networks=LOOPBACK, ws_max_replay=300, ws_snapshot_alerts=5)
    with TestClient(create_app(settings, redis_url)) as api:
        stream_id = api.post("/streams", json={"url": "rtmp://localhost/y"}).json()["id"]
        yield api, stream_id, Publisher(client, Keys(key_prefix), 100_000)


def closed_with(api: TestClient, path: str) -> int:
    with api.websocket_connect(path) as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return closed.value.code


def test_a_socket_without_since_opens_with_a_bounded_snapshot_then_goes_live(setup):
    api, stream_id, publisher = setup
    messages = []
    for i in range(1000):
        messages.append(encode(face_message(stream_id, i / 10)))
        if i % 100 == 99:
            messages.append(encode(alert(stream_id, i / 10)))
    ids = publisher.emit(stream_id, messages)
    with api.websocket_connect(f"/ws/streams/{stream_id}") as ws:
        snapshot = ws.receive_json()
        assert snapshot["type"] == "snapshot" and snapshot["id"] == ids[-1] and snapshot["status"] == "queued"
        assert [a["pts"] for a in snapshot["alerts"]] == [59.9, 69.9, 79.9, 89.9, 99.9]  # the last 5, oldest first
        (live,) = publisher.emit(stream_id, [encode(face_message(stream_id, 100.0))])
        assert ws.receive_json()["id"] == live  # nothing of the 1,011 older messages came in between


def test_a_future_since_means_from_now_and_a_bad_one_is_4400(setup):
    api, stream_id, publisher = setup
    publisher.emit(stream_id, [encode(face_message(stream_id, 0.0))])
    with api.websocket_connect(f"/ws/streams/{stream_id}?since=99999999999999-0") as ws:
        time.sleep(0.5)  # "from now" starts once the server has subscribed, a moment after the handshake
        (live,) = publisher.emit(stream_id, [encode(face_message(stream_id, 1.0))])
        assert ws.receive_json()["id"] == live
    for since in ("1" * 30, "18446744073709551616-0", "1-18446744073709551616", "abc", "-1", "1-2-3"):
        assert closed_with(api, f"/ws/streams/{stream_id}?since={since}") == 4400


def test_a_client_too_far_behind_is_closed_with_4408_after_a_bounded_replay(setup):
    api, stream_id, publisher = setup
    ids = publisher.emit(stream_id, [encode(face_message(stream_id, i / 10)) for i in range(400)])
    with api.websocket_connect(f"/ws/streams/{stream_id}?since={ids[150]}") as ws:
        assert [ws.receive_json()["id"] for _ in range(249)] == ids[151:]  # 249 <= 300: replayed in full
    assert closed_with(api, f"/ws/streams/{stream_id}?since=0") == 4408  # 401 > 300


def test_odd_paths_and_ids_are_answered_at_once_without_a_server_error(setup):
    api, stream_id, _ = setup
    began = time.monotonic()
    assert closed_with(api, "/ws/streams/" + "a" * 10_000) == 4404
    assert closed_with(api, "/ws/streams/%00%ff") == 4404
    assert api.get("/streams/" + "a" * 10_000).status_code == 404
    assert time.monotonic() - began < 5
    for since in ("18446744073709551616", "1-" + "9" * 25):
        for path in (f"/streams/{stream_id}/events", f"/streams/{stream_id}/alerts"):
            response = api.get(path, params={"since": since})
            assert response.status_code == 422, (path, since, response.text)
    top = "18446744073709551615-18446744073709551615"
    assert api.get(f"/streams/{stream_id}/events", params={"since": top}).json()["events"] == []


def test_after_an_api_restart_a_client_resumes_with_since_and_gets_every_missed_message_once(
    redis_url, key_prefix, client
):
    settings = Settings(key_prefix=key_prefix, source_allow_networks=LOOPBACK)
    publisher = Publisher(client, Keys(key_prefix), 100_000)

    async def read(url: str, count: int) -> list[str]:
        async with websockets.connect(url) as ws:
            return [json.loads(await ws.recv())["id"] for _ in range(count)]

    with serving(create_app(settings, redis_url)) as port:
        stream_id = httpx.post(f"http://127.0.0.1:{port}/streams", json={"url": "rtmp://localhost/y"}).json()["id"]
        first = publisher.emit(stream_id, [encode(face_message(stream_id, i / 10)) for i in range(50)])
        seen = asyncio.run(read(f"ws://127.0.0.1:{port}/ws/streams/{stream_id}?since=0", 51))  # status + 50 faces
    missed = publisher.emit(stream_id, [encode(face_message(stream_id, 5 + i / 10)) for i in range(30)])
    with serving(create_app(settings, redis_url)) as port:  # the API comes back (a new process would too)
        resumed = asyncio.run(read(f"ws://127.0.0.1:{port}/ws/streams/{stream_id}?since={seen[-1]}", 30))
    assert seen[1:] == first and resumed == missed  # every missed message, once, in order
