"""When a stream's frame gets a full detection, and which followed faces count as one."""

import numpy as np

from service.pipeline.faces import StreamFaces, distinct
from service.vision.detection import Detection
from service.vision.shot_cuts import ShotCutDetector
from service.vision.tracker import IouTracker


def faces() -> StreamFaces:
    return StreamFaces(IouTracker(), ShotCutDetector(), None, None, None)  # type: ignore[arg-type]


def test_a_detection_is_due_first_on_a_cut_after_the_interval_and_when_time_goes_back():
    state = faces()
    assert state.detection_due(0.0, cut=False, interval_s=1.0)
    state.last_detection = 0.0
    assert not state.detection_due(0.6, cut=False, interval_s=1.0)
    assert state.detection_due(0.6, cut=True, interval_s=1.0)
    assert state.detection_due(1.0, cut=False, interval_s=1.0)  # 0.2 * 5 in float sums still counts
    assert state.detection_due(0.2 * 5 - 1e-9, cut=False, interval_s=1.0)
    assert state.detection_due(0.6, cut=False, interval_s=0.0)  # interval 0: every frame
    state.last_detection = 5.0
    assert state.detection_due(1.0, cut=False, interval_s=1.0)  # a source restarted


def test_faces_of_the_previous_frame_are_followed_first_then_lost_ones_at_their_last_place():
    state = faces()
    state.tracker.update(np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), 0.0)
    state.tracker.update(np.array([[1, 0, 11, 10]]), 0.2)
    state.last_pts = 0.2
    boxes, recent = state.following()
    assert [box.tolist() for box in boxes] == [[1, 0, 11, 10], [50, 50, 60, 60]] and recent == 1


def test_followed_faces_that_converged_are_one_face():
    def face(x: float, score: float) -> Detection:
        return Detection(np.array([x, 0, x + 10, 10], np.float32), score, np.zeros((5, 2), np.float32))

    kept = distinct([face(0, 0.95), face(1, 0.99), face(30, 0.93)])
    assert [(float(d.box[0]), d.score) for d in kept] == [(1.0, 0.99), (30.0, 0.93)]
