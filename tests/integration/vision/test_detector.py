"""Real facenet-pytorch MTCNN (weights from the package, numpy 2, torchvision NMS) on real clips."""

import threading

import numpy as np
import pytest
import torch

from service.config import Settings
from service.ingest.source import VideoSource
from service.ingest.urls import SourcePolicy, parse_source
from service.runtime import build_detector
from service.vision.alignment import FER_TEMPLATE, apply_transform, similarity_transform
from service.vision.detector import FaceDetector
from tests.conftest import DATA, source_opts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return build_detector(Settings(detect_long_side=640), torch.device("cpu"))


def sampled(name: str, fps: float = 2):
    return [
        f.image
        for f in VideoSource(
            parse_source(str(DATA / name), SourcePolicy.operator()), source_opts(analysis_fps=fps), threading.Event()
        ).frames()
    ]


def test_one_face_per_frame_with_landmarks_inside_the_box(detector):
    results = detector.detect(sampled("single_face.mp4"))
    assert [len(r) for r in results] == [1] * len(results)
    for (det,) in results:
        x1, y1, x2, y2 = det.box
        assert 120 < x2 - x1 < 250 and det.score > 0.99
        assert np.all((det.landmarks[:, 0] > x1) & (det.landmarks[:, 0] < x2))
        assert np.all((det.landmarks[:, 1] > y1) & (det.landmarks[:, 1] < y2))
        assert det.landmarks[0, 0] < det.landmarks[1, 0]  # left eye left of right eye


def test_landmarks_align_close_to_the_template(detector):
    (det,), *_ = detector.detect(sampled("carphone_pristine.mp4"))
    matrix = similarity_transform(det.landmarks, FER_TEMPLATE * 48)
    residual = np.linalg.norm(apply_transform(matrix, det.landmarks) - FER_TEMPLATE * 48, axis=1)
    assert residual.max() < 6  # pixels of a 48 px crop


def test_downscaling_maps_boxes_back_to_frame_pixels(detector):
    frame = sampled("single_face.mp4")[0]
    full = build_detector(Settings(detect_long_side=640), torch.device("cpu")).detect([frame])[0][0]
    half = build_detector(Settings(detect_long_side=320), torch.device("cpu")).detect([frame])[0][0]
    np.testing.assert_allclose(full.box, half.box, atol=12)


def test_no_face_clip_gives_no_detections(detector):
    assert all(len(r) == 0 for r in detector.detect(sampled("no_face.mp4")))


def test_empty_batch(detector):
    assert detector.detect([]) == []


@pytest.mark.parametrize("clip", ["single_face.mp4", "carphone_pristine.mp4"])
def test_following_by_onet_matches_full_detection_and_moves_the_landmarks(detector, clip):
    from service.vision.tracker import iou_matrix

    frames = sampled(clip, fps=10)
    overlaps, errors = [], []
    for before, now in zip(frames[::3], frames[2::3], strict=False):  # a face followed 0.2 s on
        (previous,) = detector.detect([before])[0]
        (full,) = detector.detect([now])[0]
        ((followed,),) = detector.refine([now], [[previous.box]])
        assert followed.score >= detector.min_score
        overlaps.append(iou_matrix(followed.box[None], full.box[None])[0, 0])
        errors.append(np.abs(followed.landmarks - full.landmarks).max() / (full.box[2] - full.box[0]))
    # full detection itself jitters by about this much on a 50 px face (carphone): followed boxes stay as close
    assert np.mean(overlaps) > 0.85 and min(overlaps) > 0.6
    assert np.mean(errors) < 0.05 and max(errors) < 0.12


def test_a_followed_face_is_lost_where_there_is_none_and_refine_batches_across_frame_sizes(detector):
    face = sampled("single_face.mp4")[0]
    (found,) = detector.detect([face])[0]
    empty = sampled("no_face.mp4")[0]
    shifted = found.box + np.array([0, 0, 0, 0], dtype=np.float32)
    near_edge = np.array([-40, -40, 60, 60], dtype=np.float32)  # partly outside the frame: padded, not an error
    results = detector.refine([face, empty], [[found.box, near_edge], [shifted]])
    assert results[0][0] is not None and results[0][1] is None
    assert results[1] == [None]  # the cartoon title has no face at that place: lost, the caller detects
    assert detector.refine([], []) == []
