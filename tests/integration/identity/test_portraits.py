"""Portraits of different people on one backdrop and framing, cut together: the shot detector sees the same
layout and finds no cut, so the face tracker alone would carry one person's track, label and name onto the
next. The look jump sends the face to identity, which ends the track where another person appears."""

import json
import threading

import cv2
import numpy as np
import pytest

from service.config import Settings
from service.identity.characters import GalleryEntry
from service.ingest.source import VideoSource, source_options
from service.ingest.urls import SourcePolicy, parse_source
from service.pipeline.analysis import analyse, new_stream_state
from service.runtime import build_pipeline
from service.worker.enrolment import embed_images
from tests.edited_clips import portrait, read_frames, write_stills

pytestmark = pytest.mark.slow

HOST, GUEST = read_frames("single_face.mp4"), read_frames("carphone_pristine.mp4")
SERIES = [("host", HOST, 5), ("guest", GUEST, 20), ("host", HOST, 65), ("guest", GUEST, 100), ("host", HOST, 30)]
SECONDS = 2.0


@pytest.fixture(scope="module")
def pipeline():
    return build_pipeline(Settings(device="cpu"))


@pytest.fixture(scope="module")
def series(pipeline, tmp_path_factory) -> str:
    stills = [portrait(frames[i], pipeline.detector.detect([frames[i]])[0][0].box) for _, frames, i in SERIES]
    path = tmp_path_factory.mktemp("portraits") / "portraits.mp4"
    write_stills(path, stills, SECONDS)
    return str(path)


def faces_of(pipeline, path: str, gallery: list[GalleryEntry]) -> tuple[list[tuple[str, dict]], list[float]]:
    """(who, face message) for every face, by the still it falls in; and the media times of the cuts."""
    settings = Settings(device="cpu")
    state = new_stream_state(settings, pipeline, "portraits")
    state.faces.identity.book.set_gallery(gallery)
    source = VideoSource(parse_source(path, SourcePolicy.operator()), source_options(settings, 5.0), threading.Event())
    messages = [m for frame in source.frames() for m in analyse(pipeline, [(state, frame)])[0].messages]
    faces = [json.loads(m.body) for m in messages if m.type == "face"]
    cuts = [json.loads(m.body)["pts"] for m in messages if m.type == "frame" and json.loads(m.body)["cut"]]
    return [(SERIES[min(int(f["pts"] / SECONDS + 1e-6), len(SERIES) - 1)][0], f) for f in faces], cuts


def test_each_portrait_is_its_own_track_and_each_person_one_character(pipeline, series):
    faces, cuts = faces_of(pipeline, series, [])
    assert cuts == [pytest.approx(k * SECONDS) for k in range(1, len(SERIES))]  # everyone on screen changed
    for k in range(len(SERIES)):
        tracks = {f["track_id"] for _, f in faces if k * SECONDS <= f["pts"] < (k + 1) * SECONDS}
        assert len(tracks) == 1, (k, tracks)
    assert len({f["track_id"] for _, f in faces}) == len(SERIES)  # no track spans two portraits
    host = {f["character_id"] for who, f in faces if who == "host"} - {None}
    guest = {f["character_id"] for who, f in faces if who == "guest"} - {None}
    assert len(host) == 1 and len(guest) == 1 and host != guest


def test_an_enrolled_host_never_names_the_guest_who_takes_their_place(pipeline, series):
    still = HOST[50]
    ok, png = cv2.imencode(".png", cv2.cvtColor(still, cv2.COLOR_RGB2BGR))
    found = embed_images([png.tobytes()], pipeline.detector, pipeline.identity.embedder, pipeline.identity.gate)
    gallery = [GalleryEntry("ch_00000000h057", "The Host", (np.asarray(found[0]["embedding"], np.float32),))]
    faces, _ = faces_of(pipeline, series, gallery)
    assert not any(f["character"] == "The Host" for who, f in faces if who == "guest")
    hosts = [f for who, f in faces if who == "host"]
    assert sum(f["character"] == "The Host" for f in hosts) >= 0.9 * len(hosts)
