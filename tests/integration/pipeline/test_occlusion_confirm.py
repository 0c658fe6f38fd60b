"""A label never changes on a face nobody has looked at since the hand came: with scheduled occlusion scores
switched off in effect (one per 100 s) and no temporal smoothing, the per-frame reading turns under the hand at
once; the face about to change label is scored first, found covered, and its label held."""

import json
import threading
from fractions import Fraction

import av
import numpy as np
import pytest

from service.config import Settings
from service.ingest.source import VideoSource, source_options
from service.ingest.urls import SourcePolicy, parse_source
from service.pipeline.analysis import analyse, new_stream_state
from service.runtime import build_pipeline
from tests.e2e.test_occlusion_e2e import COVERED, hand
from tests.edited_clips import read_frames

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def covered_clip(tmp_path_factory) -> str:
    smiling = read_frames("single_face.mp4")[36:]  # 1.2 s smiling, forwards, then backwards and forwards again
    path = tmp_path_factory.mktemp("confirm") / "hand_from_1s.mp4"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 30)
        for i, image in enumerate(smiling + smiling[::-1] + smiling):
            image = hand(image, rng) if i >= 36 else image  # the hand from 1.2 s on
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def test_a_label_about_to_change_under_a_hand_is_scored_first_and_held(covered_clip):
    assert COVERED[0] > 1.2  # the hand of the e2e test, here from 1.2 s on
    settings = Settings(device="cpu", identity=False, temporal_model="", occlusion_every_s=100.0)
    pipeline = build_pipeline(settings)
    state = new_stream_state(settings, pipeline, "confirm")
    source = VideoSource(parse_source(covered_clip, SourcePolicy.operator()), source_options(settings, 10.0),
                         threading.Event())  # fmt: skip
    faces = [json.loads(m.body) for frame in source.frames() for m in analyse(pipeline, [(state, frame)])[0].messages
             if m.type == "face"]  # fmt: skip
    before = [f for f in faces if f["pts"] < 1.2]
    under = [f for f in faces if f["pts"] >= 1.2]
    assert before and under and {f["label"] for f in before} == {"happy"}
    assert any(f["frame_label"] != "happy" for f in under)  # the hand turns the per-frame reading
    assert {f["label"] for f in under} == {"happy"}  # but not the label: it was scored covered first
    assert sum(f["occluded"] for f in under) >= 0.8 * len(under)
    assert {f["track_id"] for f in faces} == {1}  # the hand is not another person: one track throughout
