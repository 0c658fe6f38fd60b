"""Identity on an edit of short shots (0.5–1 s, as broadcast cuts run), through the real pipeline: an enrolled
host is named from the first usable face of every shot, and discovery founds one character per person even
when no shot lasts long enough for a slow schedule."""

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
from tests.edited_clips import Shot, read_frames, write_edit

pytestmark = pytest.mark.slow

HOST, GUEST = "single_face.mp4", "carphone_pristine.mp4"
SHOTS = [Shot(HOST, 0, 25), Shot(GUEST, 0, 25), Shot(HOST, 30, 25), Shot(GUEST, 40, 25), Shot(HOST, 60, 12, -1),
         Shot(GUEST, 90, 25), Shot(HOST, 10, 25)]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("short") / "short_shots.mp4"
    bounds = [0.0, *write_edit(path, SHOTS)]
    settings = Settings(device="cpu")
    pipeline = build_pipeline(settings)

    def faces(gallery: list[GalleryEntry]) -> tuple[list[dict], list[dict]]:
        """Face messages of the host and of the guest, by the shot each falls in."""
        state = new_stream_state(settings, pipeline, "short")
        state.faces.identity.book.set_gallery(gallery)
        source = VideoSource(parse_source(str(path), SourcePolicy.operator()), source_options(settings, 5.0),
                             threading.Event())  # fmt: skip
        out = [m for frame in source.frames() for m in analyse(pipeline, [(state, frame)])[0].messages]
        face_bodies = [json.loads(m.body) for m in out if m.type == "face"]
        shot = [max(i for i, b in enumerate(bounds) if f["pts"] >= b - 1e-6) for f in face_bodies]
        host = [f for f, s in zip(face_bodies, shot, strict=True) if SHOTS[s].clip == HOST]
        return host, [f for f in face_bodies if f not in host]

    return pipeline, faces


def test_discovery_founds_one_character_per_person_from_one_second_shots(run):
    _, faces = run
    host, guest = faces([])
    host_ids = {f["character_id"] for f in host} - {None}
    guest_ids = {f["character_id"] for f in guest} - {None}
    assert len(host_ids) == 1 and len(guest_ids) == 1 and host_ids != guest_ids
    named = [f for f in host + guest if f["character_id"]]
    assert len(named) >= 0.85 * len(host + guest), (len(named), len(host + guest))


def test_an_enrolled_host_is_named_on_nearly_every_face_event_and_the_guest_never(run):
    pipeline, faces = run
    still = read_frames(HOST)[50]  # a frame no shot shows
    ok, png = cv2.imencode(".png", cv2.cvtColor(still, cv2.COLOR_RGB2BGR))
    result = embed_images([png.tobytes()], pipeline.detector, pipeline.identity.embedder, pipeline.identity.gate)
    embedding = np.asarray(result[0]["embedding"], dtype=np.float32)
    host, guest = faces([GalleryEntry("ch_00000000h057", "The Host", (embedding,))])
    assert sum(f["character"] == "The Host" for f in host) >= 0.95 * len(host)
    assert not any(f["character"] == "The Host" for f in guest)
