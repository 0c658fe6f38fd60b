"""dlib's ResNet descriptor run in PyTorch from dlib's own file gives dlib's descriptors, on real faces."""

import av
import dlib
import numpy as np
import pytest
import torch

from service.config import Settings
from service.identity.dlib_resnet import DlibWeights
from service.identity.embedder import FaceEmbedder, _package_models_dir
from service.runtime import build_detector
from tests.conftest import DATA

CLIPS = [DATA.parents[1] / "service" / "data" / "demo_programme.mp4", DATA / "carphone_pristine.mp4"]


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder(Settings().weights_dir, torch.device("cpu"))


@pytest.fixture(scope="module")
def chips(embedder) -> list[np.ndarray]:
    detector = build_detector(Settings(), torch.device("cpu"))
    found = []
    for clip in CLIPS:
        with av.open(str(clip)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index % 20 == 0:
                    image = frame.to_ndarray(format="rgb24")
                    found += [embedder.chip(image, face.box) for face in detector.detect([image])[0]]
    assert len(found) >= 12
    return found


def test_descriptors_and_distances_equal_dlibs_own(embedder, chips):
    reference = dlib.face_recognition_model_v1(str(_package_models_dir() / "dlib_face_recognition_resnet_model_v1.dat"))
    expected = np.array([np.asarray(d) for d in reference.compute_face_descriptor(chips)], dtype=np.float32)
    batched = embedder.embed(chips)
    alone = np.concatenate([embedder.embed([chip]) for chip in chips[:4]])
    assert batched.shape == (len(chips), 128)
    np.testing.assert_allclose(batched, expected, atol=1e-4)
    np.testing.assert_allclose(alone, expected[:4], atol=1e-4)
    distances = np.linalg.norm(batched[:, None] - batched[None], axis=2)
    dlib_distances = np.linalg.norm(expected[:, None] - expected[None], axis=2)
    assert np.abs(distances - dlib_distances).max() < 1e-4
    assert distances.max() > 0.6  # more than one person among the chips: the comparison is not of near-copies


def test_a_file_that_is_not_the_descriptor_network_is_refused(tmp_path):
    landmarks = _package_models_dir() / "shape_predictor_5_face_landmarks.dat"
    with pytest.raises(ValueError, match="not dlib's face descriptor ResNet"):
        DlibWeights.read(landmarks)
    (tmp_path / "empty.dat").write_bytes(b"")
    with pytest.raises(ValueError, match="not dlib's face descriptor ResNet"):
        DlibWeights.read(tmp_path / "empty.dat")
