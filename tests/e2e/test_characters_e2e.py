"""Characters end to end on real faces: one person recurring after cuts keeps one character, another person gets
another; a person enrolled from a still is named in the stream and nobody else is; naming a discovered
character reaches live subscribers; bad uploads get 422."""

from __future__ import annotations

import asyncio
import io
import json

import httpx
import numpy as np
import pytest
import websockets
from PIL import Image

from tests.e2e.test_alerts_e2e import run_clip
from tests.e2e.test_service_e2e import post
from tests.edited_clips import Shot, read_frames, write_edit

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.redis]

# host, guest, host again, guest again: three hard cuts between two real people
EDIT = [Shot("single_face.mp4", 0, 36), Shot("carphone_pristine.mp4", 0, 60), Shot("single_face.mp4", 36, 36),
        Shot("carphone_pristine.mp4", 60, 60)]  # fmt: skip
CUTS = (1.44, 3.84, 5.28)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def faces_by_person(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """Face events of the host (shots 1 and 3) and of the guest (shots 2 and 4), by media time."""
    faces = [m for m in messages if m["type"] == "face"]
    host = [f for f in faces if f["pts"] < CUTS[0] or CUTS[1] < f["pts"] < CUTS[2]]
    guest = [f for f in faces if f not in host]
    return host, guest


@pytest.fixture(scope="module")
def edit(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("edit") / "host_guest_host_guest.mp4"
    assert write_edit(path, EDIT) == list(CUTS)
    return str(path)


def test_a_person_recurring_after_cuts_keeps_one_character_and_another_person_gets_another(service, edit):
    stream, messages = run_clip(service, edit)
    cuts = [m["pts"] for m in messages if m["type"] == "frame" and m["cut"]]
    assert len(cuts) == 3 and all(0 < c - t <= 0.2 + 1e-6 for c, t in zip(cuts, CUTS, strict=True))
    host, guest = faces_by_person(messages)
    bounds = [-1.0, *cuts, 1e9]
    for start, end in zip(bounds, bounds[1:], strict=False):
        in_shot = {f["track_id"] for f in host + guest if start <= f["pts"] < end}
        assert len(in_shot) == 1  # one track per shot: none spans a cut
    host_ids = {f["character_id"] for f in host} - {None}
    guest_ids = {f["character_id"] for f in guest} - {None}
    assert len(host_ids) == 1 and len(guest_ids) == 1 and host_ids != guest_ids
    named = [f for f in host + guest if f["character_id"]]
    assert len(named) >= 0.85 * len(host + guest)  # identified from the first usable faces of each shot
    appeared = [m for m in messages if m["type"] == "character" and m["event"] == "appeared"]
    assert {m["character_id"] for m in appeared} == host_ids | guest_ids

    listed = httpx.get(f"{service.base}/streams/{stream['id']}/characters").json()["characters"]
    assert {c["character_id"] for c in listed} == host_ids | guest_ids
    assert all(c["screen_time_s"] > 0 and c["stats"]["face_frames"] > 0 for c in listed)
    (host_id,) = host_ids
    stats = httpx.get(f"{service.base}/streams/{stream['id']}/stats", params={"character": host_id}).json()["stats"]
    assert stats["character_id"] == host_id and stats["face_count"] == 2  # both host shots, across the cuts
    heatmap = f"{service.base}/streams/{stream['id']}/heatmap"
    params = {"kind": "temporal", "format": "json", "bin_s": 1, "character": host_id}
    bins = [b["face_frames"] for b in httpx.get(heatmap, params=params).json()["bins"]]
    assert bins[0] > 0 and bins[4] > 0 and bins[2] == 0 and bins[6] == 0  # [2, 3) s and [6, 7) s show the guest
    png = httpx.get(heatmap, params={"character": host_id})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    both = httpx.get(heatmap, params={"character": host_id, "track": 1})
    assert both.status_code == 422 and "not both" in both.json()["detail"]
    thumb = httpx.get(f"{service.base}/characters/{host_id}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"


def test_an_enrolled_person_is_named_in_the_stream_and_nobody_else_gets_the_name(service, edit):
    still = read_frames("single_face.mp4")[50]  # a frame the edit does not show
    response = httpx.post(
        f"{service.base}/characters",
        data={"name": "The Host"},
        files=[("images", ("host.png", png(still), "image/png"))],
        timeout=60,
    )
    assert response.status_code == 201, response.text
    enrolled = response.json()
    assert enrolled["faces_usable"] == 1 and enrolled["in_gallery"]
    try:
        assert enrolled["id"] in {c["id"] for c in httpx.get(f"{service.base}/characters").json()["characters"]}
        _, messages = run_clip(service, edit)
        host, guest = faces_by_person(messages)
        assert all(f["character"] == "The Host" for f in host if f["character_id"])
        assert sum(f["character"] == "The Host" for f in host) >= 0.9 * len(host)
        assert not any(f["character"] == "The Host" for f in guest)
    finally:
        assert httpx.delete(f"{service.base}/characters/{enrolled['id']}").status_code == 204
    assert httpx.get(f"{service.base}/characters/{enrolled['id']}").status_code == 404


def test_bad_enrolment_uploads_get_422_with_a_reason_and_store_nothing(service):
    host, guest = read_frames("single_face.mp4")[10], read_frames("carphone_pristine.mp4")[10]
    two = np.zeros((360, 1000, 3), dtype=np.uint8)
    two[:, :640] = host
    two[100:244, 750:926] = guest
    no_face = read_frames("no_face.mp4")[0]
    before = httpx.get(f"{service.base}/characters").json()["characters"]
    cases = [
        (("x.png", png(no_face), "image/png"), "no face found"),
        (("x.png", png(two), "image/png"), "2 faces found"),
        (("x.txt", b"certainly not a picture", "text/plain"), "not an image"),
        (("x.png", b"\x89PNG" + b"0" * service.settings.enrol_max_image_bytes, "image/png"), "larger than"),
    ]
    for upload, reason in cases:
        response = httpx.post(f"{service.base}/characters", data={"name": "X"}, files=[("images", upload)], timeout=60)
        assert response.status_code == 422 and reason in response.json()["detail"], response.text
    response = httpx.post(f"{service.base}/characters", data={"name": "X"}, timeout=10)
    assert response.status_code == 422
    assert httpx.get(f"{service.base}/characters").json()["characters"] == before


async def _name_live(service, stream_id: str, name: str) -> tuple[dict, dict]:
    """Waits for a character to appear, names it over REST, returns the ``named`` message and the next face
    event that carries the name, all from one live WebSocket."""
    async with websockets.connect(f"{service.ws}/ws/streams/{stream_id}?since=0") as ws:
        async with asyncio.timeout(90):
            appeared = None
            while appeared is None:
                message = json.loads(await ws.recv())
                if message["type"] == "character" and message["event"] == "appeared":
                    appeared = message
            character_id = appeared["character_id"]
            async with httpx.AsyncClient() as client:
                patched = await client.patch(f"{service.base}/characters/{character_id}", json={"name": name})
                assert patched.status_code == 200 and patched.json()["in_gallery"], patched.text
            named = face = None
            while named is None or face is None:
                message = json.loads(await ws.recv())
                if message["type"] == "character" and message["event"] == "named":
                    named = message
                elif named and message["type"] == "face" and message["character_id"] == character_id:
                    face = message
            return named, face


def test_naming_a_discovered_character_reaches_live_subscribers_and_later_faces(service, edit):
    stream = post(service.base, {"url": edit, "analysis_fps": 5, "realtime": True, "loop": True})
    named = None
    try:
        named, face = asyncio.run(_name_live(service, stream["id"], "Guest Star"))
        assert named["character"] == "Guest Star" and face["character"] == "Guest Star"
        assert face["character_id"] == named["character_id"]
    finally:
        httpx.delete(f"{service.base}/streams/{stream['id']}")
        if named:
            assert httpx.delete(f"{service.base}/characters/{named['character_id']}").status_code == 204
