"""The detect/follow cadence on real clips: a face on every analysed frame, full MTCNN only when due."""

import threading

import pytest

from service.config import Settings
from service.ingest.source import VideoSource, source_options
from service.ingest.urls import SourcePolicy, parse_source
from service.pipeline.analysis import analyse, new_stream_state
from service.runtime import build_pipeline
from service.worker.timing import StageTimer
from tests.conftest import DATA

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("interval", [0.0, 1.0])
def test_every_analysed_frame_has_its_face_and_detection_runs_once_per_interval(interval):
    settings = Settings(detect_interval_s=interval, identity=False, device="cpu")
    timer = StageTimer()
    pipeline = build_pipeline(settings, timer)
    state = new_stream_state(settings, pipeline, "cadence")
    spec = parse_source(str(DATA / "single_face.mp4"), SourcePolicy.operator())
    frames = list(VideoSource(spec, source_options(settings, 10.0), threading.Event()).frames())
    messages = [m for frame in frames for m in analyse(pipeline, [(state, frame)])[0].messages]
    faces = [m for m in messages if m.type == "face"]
    assert len(faces) == len(frames) == 24  # 2.4 s at 10 analysed frames/s
    detections = timer.stages["detect"].items
    assert detections == (len(frames) if interval == 0 else 3)  # at 0, 1.0 and 2.0 s
    assert timer.stages.get("refine") is None if interval == 0 else timer.stages["refine"].items == 21
    assert all('"track_id":1,' in m.body for m in faces)  # one track throughout


def test_a_lost_face_is_looked_for_at_once_and_then_at_the_next_interval():
    """The face is painted out from 1.0 s on (no cut: the rest of the frame stays): O-net loses it, a full
    detection looks for it at once; with nothing left to follow, the next look is a whole interval later."""
    settings = Settings(detect_interval_s=2.0, identity=False, saliency_model="", device="cpu")
    timer = StageTimer()
    pipeline = build_pipeline(settings, timer)
    state = new_stream_state(settings, pipeline, "lost")
    spec = parse_source(str(DATA / "single_face.mp4"), SourcePolicy.operator())
    frames = list(VideoSource(spec, source_options(settings, 10.0), threading.Event()).frames())
    faces_per_frame = []
    for frame in frames:
        if frame.pts >= 1.0:
            frame.image[40:330, 170:420] = frame.image[5:10, 5:10].mean(axis=(0, 1))  # the face painted out
        messages = analyse(pipeline, [(state, frame)])[0].messages
        faces_per_frame.append(sum(m.type == "face" for m in messages))
    assert faces_per_frame[:10] == [1] * 10 and sum(faces_per_frame[10:]) == 0
    # detections: at 0 s and when the face is lost at 1.0 s; the next is due at 3.0 s, after the clip
    assert timer.stages["detect"].items == 2


def test_a_face_hidden_for_a_while_is_found_again_at_once_under_its_own_track():
    """Painted out from 1.0 s to 1.8 s (shorter than a track's maximum age): O-net keeps looking at its last
    place on every frame, so the face is back on the first frame it shows, as track 1, although the next
    full detection is not due until 5.0 s."""
    settings = Settings(detect_interval_s=4.0, identity=False, saliency_model="", device="cpu")
    timer = StageTimer()
    pipeline = build_pipeline(settings, timer)
    state = new_stream_state(settings, pipeline, "hidden")
    spec = parse_source(str(DATA / "single_face.mp4"), SourcePolicy.operator())
    tracks_per_frame = []
    for frame in VideoSource(spec, source_options(settings, 10.0), threading.Event()).frames():
        if 1.0 <= frame.pts < 1.8:
            frame.image[40:330, 170:420] = frame.image[5:10, 5:10].mean(axis=(0, 1))
        messages = analyse(pipeline, [(state, frame)])[0].messages
        tracks_per_frame.append([m.body.split('"track_id":')[1].split(",")[0] for m in messages if m.type == "face"])
    assert tracks_per_frame[:10] == [["1"]] * 10 and tracks_per_frame[10:18] == [[]] * 8
    assert tracks_per_frame[18:] == [["1"]] * 6  # back at 1.8 s, the same track
    assert timer.stages["detect"].items == 2  # at 0 s, and once when the face was lost at 1.0 s
