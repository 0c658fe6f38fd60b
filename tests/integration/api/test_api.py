"""The REST API against a real Redis (no worker): validation, registry, history paging, stop."""

import re

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from service.api.app import create_app
from service.bus.keys import Keys
from service.bus.publisher import Publisher
from service.bus.registry import StreamRegistry
from service.config import Settings
from service.schemas import FaceEvent, StreamStatus
from service.wire import encode, status_message
from service.worker.timing import LatencyHistogram
from tests.conftest import DATA, LOOPBACK

pytestmark = pytest.mark.redis


@pytest.fixture
def settings(key_prefix):
    return Settings(key_prefix=key_prefix, source_allow_networks=LOOPBACK, allow_local_files=True, media_dirs=[DATA])


@pytest.fixture
def api(settings, redis_url):
    with TestClient(create_app(settings, redis_url)) as test_client:
        yield test_client


def test_healthz(api):
    response = api.get("/healthz")
    assert response.status_code == 200 and response.json()["redis"] is True


def test_create_and_read_back(api):
    response = api.post(
        "/streams", json={"url": "rtmp://user:pw@localhost/app/key", "name": "studio 1", "analysis_fps": 4}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "queued" and body["analysis_fps"] == 4 and body["name"] == "studio 1"
    assert body["reason"] == "no worker is running; place 1 in the queue"
    assert body["links"]["live"] == f"/ws/streams/{body['id']}"
    assert body["url"] == "rtmp://***@localhost/app/key"  # the worker gets the credentials, readers do not
    assert api.get(f"/streams/{body['id']}").json()["url"] == "rtmp://***@localhost/app/key"
    assert api.get("/streams").json()["streams"][0]["url"] == "rtmp://***@localhost/app/key"
    assert [s["id"] for s in api.get("/streams").json()["streams"]] == [body["id"]]
    stats = api.get(f"/streams/{body['id']}/stats").json()
    assert stats == {"stream_id": body["id"], "status": "queued", "stats": None}
    events = api.get(f"/streams/{body['id']}/events").json()["events"]
    assert [(e["type"], e["status"], e["reason"]) for e in events] == [("status", "queued", "no worker is running")]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "url: Field required"),
        ({"url": "rtmp://localhost/y", "analysis_fps": -1}, "analysis_fps: Input should be greater than 0"),
        ({"url": "rtmp://localhost/y", "analysis_fps": 500}, "exceeds the maximum"),
        ({"url": "rtmp://localhost/y", "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"url": "ftp://x/y.mp4"}, "unsupported URL scheme 'ftp'"),
        ({"url": "/no/such/file.mp4"}, "no such file"),
        ({"url": "rtmp://localhost/y", "loop": True}, "loop and realtime apply to files"),
        ({"url": 42}, "url: Input should be a valid string"),
    ],
)
def test_bad_bodies_get_422_with_a_reason(api, body, reason):
    response = api.post("/streams", json=body)
    assert response.status_code == 422
    assert reason in response.json()["detail"]


def test_not_json_is_422(api):
    response = api.post("/streams", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["detail"]


def test_local_files_refused_when_disabled(redis_url, key_prefix):
    settings = Settings(key_prefix=key_prefix, source_allow_networks=LOOPBACK, allow_local_files=False)
    with TestClient(create_app(settings, redis_url)) as api:
        response = api.post("/streams", json={"url": str(DATA / "single_face.mp4")})
    assert response.status_code == 422 and "local files are disabled" in response.json()["detail"]


def test_unknown_stream_is_404(api):
    for path in ("/streams/nope", "/streams/nope/stats", "/streams/nope/events"):
        response = api.get(path)
        assert response.status_code == 404 and "nope" in response.json()["detail"]
    assert api.delete("/streams/nope").status_code == 404


def face_message(stream_id: str, pts: float) -> dict:
    return FaceEvent(
        stream_id=stream_id,
        pts=pts,
        frame=0,
        track_id=1,
        box=[0, 0, 10, 10],
        landmarks=[[1, 1]] * 5,
        det_score=0.99,
        probs={"happy": 1.0},
        label="happy",
        polarity="positive",
        confidence=1.0,
        frame_size=[64, 64],
    ).model_dump(mode="json", exclude={"id"})


def test_events_paging_with_cursor_and_type_filter(api, settings, client):
    stream_id = api.post("/streams", json={"url": "rtmp://localhost/y"}).json()["id"]
    publisher = Publisher(client, Keys(settings.key_prefix), 10_000)
    publisher.emit(stream_id, [encode(face_message(stream_id, pts=i / 10)) for i in range(25)])
    publisher.emit(stream_id, [encode(status_message(stream_id, StreamStatus.RUNNING))])
    seen, cursor = [], None
    while True:
        params = {"limit": 10, "type": "face"} | ({"since": cursor} if cursor else {})
        page = api.get(f"/streams/{stream_id}/events", params=params).json()
        seen.extend(round(e["pts"] * 10) for e in page["events"])
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(range(25))
    assert api.get(f"/streams/{stream_id}/events", params={"since": "garbage"}).status_code == 422


def test_delete_unclaimed_stream_stops_it_and_purge_removes_it(api):
    stream_id = api.post("/streams", json={"url": "rtmp://localhost/y"}).json()["id"]
    stopped = api.delete(f"/streams/{stream_id}").json()
    assert stopped["status"] == "stopped" and stopped["reason"] == "stopped by request"
    assert api.delete(f"/streams/{stream_id}", params={"purge": "true"}).status_code == 204
    assert api.get(f"/streams/{stream_id}").status_code == 404


def test_openapi_documents_the_message_schemas(api):
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    for name in ("StreamCreate", "StreamInfo", "FaceEvent", "StatsEvent", "StatusEvent", "AlertMessage", "EventPage"):
        assert name in schemas


def test_api_key_guards_mutations_and_websockets(redis_url, key_prefix):
    settings = Settings(key_prefix=key_prefix, source_allow_networks=LOOPBACK, api_key="s3cret")
    with TestClient(create_app(settings, redis_url)) as api:
        assert api.post("/streams", json={"url": "rtmp://localhost/y"}).status_code == 401
        wrong = api.post("/streams", json={"url": "rtmp://localhost/y"}, headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401 and "X-API-Key" in wrong.json()["detail"]
        created = api.post("/streams", json={"url": "rtmp://localhost/y"}, headers={"X-API-Key": "s3cret"})
        assert created.status_code == 201
        stream_id = created.json()["id"]
        assert api.get(f"/streams/{stream_id}").status_code == 200  # reads stay open
        assert api.put(f"/streams/{stream_id}/alert-rules", json=[]).status_code == 401
        assert api.delete(f"/streams/{stream_id}").status_code == 401
        with api.websocket_connect(f"/ws/streams/{stream_id}") as ws, pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
        with api.websocket_connect(f"/ws/streams/{stream_id}?token=s3cret") as ws:
            assert ws.receive_json()["status"] == "queued"


def test_metrics_report_streams_worker_stages_and_latency_histograms(api, settings, client):
    stream_id = api.post("/streams", json={"url": "rtmp://localhost/y"}).json()["id"]
    registry = StreamRegistry(client, Keys(settings.key_prefix))
    registry.update_progress(stream_id, {"frames_analysed": 42}, media_time=8.4)
    latency = LatencyHistogram()
    for ms in (40.0, 90.0, 120.0, 7000.0, 20000.0):
        latency.observe(ms)
    stages = {"detect": {"total_ms": 1500.0, "items": 30}}
    registry.heartbeat("host-1", {"streams": [stream_id], "stages": stages, "latency_histogram": latency.snapshot()}, 5)
    text = api.get("/metrics").text
    assert 'se_streams{status="queued"} 1.0' in text
    assert f'se_stream_frames_analysed_total{{stream="{stream_id}"}} 42.0' in text
    assert 'se_worker_stage_seconds_total{stage="detect",worker="host-1"} 1.5' in text
    assert "se_workers 1.0" in text
    assert 'se_worker_latency_seconds_bucket{le="0.1",worker="host-1"} 2.0' in text
    assert 'se_worker_latency_seconds_bucket{le="10",worker="host-1"} 4.0' in text
    assert 'se_worker_latency_seconds_bucket{le="+Inf",worker="host-1"} 5.0' in text
    assert 'se_worker_latency_seconds_sum{worker="host-1"} 27.25' in text


def test_websocket_catches_a_client_that_falls_behind_up_from_history(redis_url, key_prefix, client):
    settings = Settings(key_prefix=key_prefix, source_allow_networks=LOOPBACK, ws_queue_size=8)
    with TestClient(create_app(settings, redis_url)) as api:
        stream_id = api.post("/streams", json={"url": "rtmp://localhost/y"}).json()["id"]
        publisher = Publisher(client, Keys(key_prefix), 10_000)
        with api.websocket_connect(f"/ws/streams/{stream_id}") as ws:
            assert ws.receive_json()["status"] == "queued"
            published = []
            for burst in range(5):  # far more than the 8-message live queue holds
                faces = [encode(face_message(stream_id, burst + i / 100)) for i in range(60)]
                published += publisher.emit(stream_id, faces)
            received = [ws.receive_json()["id"] for _ in range(len(published))]
    assert received == published


def test_internal_addresses_and_files_are_refused_alike_whatever_answers_there(redis_url, key_prefix):
    """Default settings: loopback in any spelling is refused before anything connects, and the answer is the same
    whether a server listens there (Redis on 6379) or not (port 9); file probes all get one answer too."""
    with TestClient(create_app(Settings(key_prefix=key_prefix), redis_url)) as api:
        answers = set()
        for url in ("http://127.0.0.1:6379/", "http://127.0.0.1:9/", "http://2130706433:6379/", "HTTP://LOCALHOST:9/"):
            response = api.post("/streams", json={"url": url})
            assert response.status_code == 422
            answers.add(re.sub(r"host '[^']*'", "host H", response.json()["detail"]))  # only the name differs
        assert len(answers) == 1 and "address is not allowed" in answers.pop()
        assert api.get("/streams").json()["streams"] == []
    files = Settings(key_prefix=key_prefix, allow_local_files=True, media_dirs=[DATA])
    with TestClient(create_app(files, redis_url)) as api:
        probes = ["/etc/shadow", "/proc/1/environ", "/dev/zero", f"{DATA}/../conftest.py", f"{DATA}/missing.mp4"]
        details = {api.post("/streams", json={"url": probe}).json()["detail"] for probe in probes}
        assert details == {"no such file in the media directories"}
        assert api.post("/streams", json={"url": str(DATA / "no_face.mp4")}).status_code == 201


def test_oversized_bodies_too_many_changes_and_too_many_streams_are_refused_with_reasons(redis_url, key_prefix):
    settings = Settings(
        key_prefix=key_prefix, source_allow_networks=LOOPBACK, mutation_burst=4, mutation_rate_per_min=1, max_streams=2
    )
    with TestClient(create_app(settings, redis_url)) as api:
        huge = b'{"url": "' + b"a" * 70_000 + b'"}'
        response = api.post("/streams", content=huge, headers={"content-type": "application/json"})
        assert response.status_code == 413 and "larger than 65536 bytes" in response.json()["detail"]
        chunked = api.post("/streams", content=iter([huge[:40_000], huge[40_000:]]))  # no content-length
        assert chunked.status_code == 413
        assert [api.post("/streams", json={"url": "rtmp://localhost/y"}).status_code for _ in range(3)] == [
            201,
            201,
            429,
        ]
        full = api.post("/streams", json={"url": "rtmp://localhost/y"})
        assert "at most 2 streams" in full.json()["detail"] and full.headers["retry-after"] == "30"
        limited = api.post("/streams", json={"url": "rtmp://localhost/y"})
        assert limited.status_code == 429 and "too many changes" in limited.json()["detail"]
        assert int(limited.headers["retry-after"]) >= 1
        assert api.get("/streams").status_code == 200  # reads are not rate limited


def test_beyond_the_workers_capacity_streams_are_queued_with_their_place_first_come_first_served(api, settings, client):
    registry = StreamRegistry(client, Keys(settings.key_prefix))
    registry.heartbeat("host-1", {"capacity": 1, "streams": []}, ttl_s=30)  # one worker with one slot
    first, second, third = (api.post("/streams", json={"url": f"rtmp://localhost/{n}"}).json() for n in "abc")
    assert first["status"] == "starting"
    assert (second["status"], second["reason"]) == ("queued", "all 1 analysis slots are busy; place 1 in the queue")
    assert api.get(f"/streams/{third['id']}").json()["reason"].endswith("place 2 in the queue")
    assert registry.claimable() == [first["id"], second["id"], third["id"]]  # workers claim in this order
    assert api.delete(f"/streams/{second['id']}").status_code == 200  # leaving the queue moves the others up
    assert api.get(f"/streams/{third['id']}").json()["reason"].endswith("place 1 in the queue")
