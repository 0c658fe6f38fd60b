"""``python -m service track-crops``: real decode, MTCNN, tracker and alignment cut a clip's face tracks."""

import numpy as np
import pytest

from service.__main__ import main
from service.config import Settings
from service.track_crops import CROP_SIZE, collect_tracks
from tests.conftest import DATA

pytestmark = pytest.mark.slow


def test_one_talking_face_gives_one_long_track_of_aligned_crops():
    arrays = collect_tracks(Settings(), DATA / "carphone_pristine.mp4", fps=10, min_frames=4)
    lengths = np.bincount(arrays["track"])
    assert lengths.max() >= 35  # 4 s at 10 fps: the face is found on nearly every frame
    assert arrays["crops"].shape == (len(arrays["track"]), CROP_SIZE, CROP_SIZE)
    assert arrays["crops"].dtype == np.uint8 and arrays["crops"].std() > 20  # a face, not a blank warp
    main_track = arrays["track"] == lengths.argmax()
    assert (np.diff(arrays["pts"][main_track]) > 0).all()
    assert str(arrays["clip"]) == "carphone_pristine.mp4"


def test_cli_writes_the_npz_and_refuses_a_clip_without_faces(tmp_path, capsys):
    out = tmp_path / "tracks.npz"
    main(["track-crops", "--clip", str(DATA / "single_face.mp4"), "--out", str(out), "--fps", "5"])
    assert "wrote" in capsys.readouterr().out
    with np.load(out) as data:
        assert set(data.files) == {"crops", "track", "pts", "clip"}
    with pytest.raises(SystemExit, match="no face track"):
        main(["track-crops", "--clip", str(DATA / "no_face.mp4"), "--out", str(tmp_path / "none.npz")])
    assert not (tmp_path / "none.npz").exists()
