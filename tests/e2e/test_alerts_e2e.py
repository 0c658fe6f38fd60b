"""Alerts end to end: a scripted clip of known emotions and cuts through the running service.

Segments are FER stills the real pipeline classifies confidently, so the expected shares are known exactly;
a background change is a real shot cut. Checks live WebSocket messages, history, stats over a chosen window,
alerts (one verified alert for a persistent negative scene; suppression when cuts dominate) and heatmaps.
"""

from __future__ import annotations

import asyncio

import cv2
import httpx
import numpy as np
import pytest

from service.runtime import build_pipeline
from tests.e2e.test_service_e2e import collect_until_terminal, post
from tests.scripted_video import FER_DATA, Segment, pick_stills, write_clip

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.redis]

BLUE_STUDIO, WARM_STUDIO, GREEN_STUDIO = (40, 60, 150), (170, 110, 50), (40, 140, 60)
RULE = {
    "metric": "negative_share",
    "op": ">",
    "threshold": 0.5,
    "window_s": 10,
    "min_face_frames": 5,
    "min_duration_s": 2,
    "cooldown_s": 60,
}


@pytest.fixture(scope="module")
def stills(service):
    if not FER_DATA.is_file():
        pytest.skip(f"training data not found at {FER_DATA}")
    data = np.load(FER_DATA)
    rows = data["usage"] == "PublicTest"
    images, labels = data["images"][rows], data["labels"][rows]
    pipeline = build_pipeline(service.settings)
    return {
        "happy": pick_stills(pipeline, images, labels, "happy", BLUE_STUDIO, 1)[0],
        "sad": pick_stills(pipeline, images, labels, "sad", WARM_STUDIO, 2),
    }


def run_clip(service, path, fps: float = 5) -> tuple[dict, list[dict]]:
    stream = post(service.base, {"url": str(path), "analysis_fps": fps, "alert_rules": [RULE]})
    return stream, asyncio.run(collect_until_terminal(f"{service.ws}/ws/streams/{stream['id']}"))


def test_persistent_negative_scene_after_a_cut_raises_exactly_one_verified_alert(service, stills, tmp_path):
    clip = tmp_path / "happy_then_sad.mp4"
    write_clip(clip, [Segment(stills["happy"], BLUE_STUDIO, 6), Segment(stills["sad"][0], WARM_STUDIO, 14)])
    stream, messages = run_clip(service, clip)
    faces = [m for m in messages if m["type"] == "face"]
    frames = [m for m in messages if m["type"] == "frame"]
    assert len(frames) == 100 and len(faces) == 100
    assert [f["label"] for f in faces] == ["happy"] * 30 + ["sad"] * 70
    assert [round(f["pts"], 1) for f in frames if f["cut"]] == [6.0]
    # no track spans the cut
    assert {f["track_id"] for f in faces if f["pts"] < 6} == {1} and {
        f["track_id"] for f in faces if f["pts"] >= 6
    } == {2}

    final = [m for m in messages if m["type"] == "stats" and m["track_id"] is None and m["character_id"] is None][-1]
    assert final["shares"] == {"positive": 0.3, "negative": 0.7, "neutral": 0.0}
    assert final["face_frames"] == 100 and final["dominant"] == "sad" and final["cuts"] == 1

    alerts = [m for m in messages if m["type"] == "alert"]
    assert [a["kind"] for a in alerts] == ["alert"]
    alert = alerts[0]
    assert alert["verified"] and alert["reasons"] == [] and alert["value"] > 0.5
    assert 12.5 <= alert["pts"] <= 13.5  # share passes 0.5 at 11.0 s, then must persist 2 s
    assert alert["window_end"] == pytest.approx(alert["pts"]) and alert["window_end"] - alert["window_start"] < 10
    assert alert["evidence"]["cuts"] == 1

    base = f"{service.base}/streams/{stream['id']}"
    history = httpx.get(f"{base}/alerts").json()
    assert [a["id"] for a in history["alerts"]] == [alert["id"]]
    evidence = httpx.get(f"{base}/alerts/{alert['id']}/frame.jpg")  # the frame that raised it, face boxed
    assert evidence.status_code == 200 and evidence.content[:2] == b"\xff\xd8"
    assert httpx.get(f"{base}/alerts/1-0/frame.jpg").status_code == 404
    assert httpx.get(f"{base}/alerts/{'9' * 30}/frame.jpg").status_code == 422
    info = httpx.get(base).json()
    assert info["counters"]["alerts"] == 1 and info["alert_rules"][0]["window_s"] == 10

    window = httpx.get(f"{base}/stats", params={"window": 60}).json()["stats"]
    assert window["shares"] == final["shares"] and window["frames"] == 100
    last10 = httpx.get(f"{base}/stats", params={"window": 10}).json()["stats"]
    assert last10["shares"]["negative"] == 1.0 and last10["frames"] == 50
    track = httpx.get(f"{base}/stats", params={"window": 60, "track": 1}).json()["stats"]
    assert track["track_id"] == 1 and track["face_frames"] == 30  # the cut at 6 s ended track 1

    spatial = httpx.get(f"{base}/heatmap", params={"kind": "spatial", "format": "json"}).json()
    negative = np.array(spatial["polarities"]["negative"])
    rows, cols = np.nonzero(negative)
    assert negative.shape == (18, 32)
    # where the face was, give or take one cell (boxes of followed faces sit a few pixels off the detector's)
    assert cols.min() >= int(220 / 640 * 32) - 1 and cols.max() <= int(420 / 640 * 32) + 1
    assert rows.min() >= int(80 / 360 * 18) - 1 and rows.max() <= int(280 / 360 * 18) + 1
    temporal = httpx.get(f"{base}/heatmap", params={"kind": "temporal", "format": "json", "bin_s": 5}).json()
    first, last = temporal["bins"][0], temporal["bins"][-1]
    assert max(first["values"], key=first["values"].get) == "happy"
    assert max(last["values"], key=last["values"].get) == "sad"
    for kind in ("spatial", "temporal"):
        response = httpx.get(f"{base}/heatmap", params={"kind": kind})
        assert response.headers["content-type"] == "image/png"
        image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[0] > 200 and image.std() > 10


def test_frequent_cuts_suppress_the_alert_and_count_why(service, stills, tmp_path):
    clip = tmp_path / "cutting_between_sad_faces.mp4"
    first, second = stills["sad"]
    segments = [
        Segment(first if i % 2 == 0 else second, WARM_STUDIO if i % 2 == 0 else GREEN_STUDIO, 1.5) for i in range(14)
    ]
    write_clip(clip, segments)
    stream, messages = run_clip(service, clip)
    assert sum(m["type"] == "frame" and m["cut"] for m in messages) == 13
    alerts = [m for m in messages if m["type"] == "alert"]
    assert alerts and all(a["kind"] == "suppressed" and not a["verified"] for a in alerts)
    assert "shot_cuts" in alerts[0]["reasons"]
    page = httpx.get(f"{service.base}/streams/{stream['id']}/alerts", params={"kind": "all"}).json()
    assert [a["id"] for a in page["alerts"]] == [a["id"] for a in alerts]
    assert page["suppressed_counts"]["shot_cuts"] >= 1
    assert httpx.get(f"{service.base}/streams/{stream['id']}/alerts").json()["alerts"] == []  # no verified alert


def test_alert_rules_are_validated_and_replaceable(service):
    bad = httpx.post(
        f"{service.base}/streams", json={"url": "rtmp://localhost/y", "alert_rules": [{**RULE, "metric": "joy"}]}
    )
    assert bad.status_code == 422 and "joy" in bad.json()["detail"]
    stream = post(service.base, {"url": "rtmp://127.0.0.1:9/none"})
    assert httpx.get(f"{service.base}/streams/{stream['id']}/alert-rules").json()[0]["metric"] == "negative_share"
    new = [{**RULE, "metric": "positive_share", "op": "<", "threshold": 0.2}]
    assert httpx.put(f"{service.base}/streams/{stream['id']}/alert-rules", json=new).status_code == 200
    assert httpx.get(f"{service.base}/streams/{stream['id']}/alert-rules").json()[0]["metric"] == "positive_share"
    httpx.delete(f"{service.base}/streams/{stream['id']}")
