import json

import numpy as np
import pytest

from service.analytics import SpatialHeatmap, TemporalHeatmap

TOP_LEFT = (0.0, 0.0, 0.25, 0.25)
BOTTOM_RIGHT = (0.75, 0.75, 1.0, 1.0)


def test_a_face_always_top_left_puts_the_mass_in_the_top_left_cells(face, frame):
    heatmap = SpatialHeatmap(grid_w=8, grid_h=4)
    for i in range(10):
        heatmap.add(frame(i * 0.5, face("sad", box=TOP_LEFT)))
    negative = heatmap.grid("negative")
    expected = np.zeros((4, 8))
    expected[0, :2] = 1.0  # the box covers cells (0, 0) and (0, 1) fully, in every frame
    np.testing.assert_allclose(negative, expected)
    assert heatmap.grid("positive").sum() == 0.0

    default = SpatialHeatmap()  # 32 x 18
    default.add(frame(0.0, face("sad", box=TOP_LEFT)))
    row, col = np.unravel_index(np.argmax(default.grid("negative")), (18, 32))
    assert row < 9 and col < 16
    assert default.grid("negative").sum() == pytest.approx(0.25 * 0.25 * 32 * 18)  # box area in cells


def test_boxes_partly_covering_cells_weight_by_overlap(face, frame):
    heatmap = SpatialHeatmap(grid_w=8, grid_h=4)
    heatmap.add(frame(0.0, face("happy", box=(0.0625, 0.0, 0.1875, 0.25))))  # half of cell 0, half of cell 1
    heatmap.add(frame(1.0))  # a frame without faces halves the occupancy
    np.testing.assert_allclose(heatmap.grid("positive")[0, :3], [0.25, 0.25, 0.0])


def test_recent_window_and_whole_stream(face, frame):
    heatmap = SpatialHeatmap(grid_w=4, grid_h=4, max_window_s=5.0)
    for second in range(20):
        box, label = (TOP_LEFT, "sad") if second < 10 else (BOTTOM_RIGHT, "happy")
        heatmap.add(frame(float(second), face(label, box=box)))
    assert heatmap.frames() == 20
    assert heatmap.grid("negative")[0, 0] == pytest.approx(0.5)  # 10 of 20 frames
    assert heatmap.grid("positive")[3, 3] == pytest.approx(0.5)
    assert heatmap.frames(since_pts=0.0) == 5  # only the last 5 s are kept: (14, 19]
    assert heatmap.grid("negative", since_pts=0.0).sum() == 0.0
    assert heatmap.grid("positive", since_pts=17.0)[3, 3] == pytest.approx(1.0)
    data = json.loads(json.dumps(heatmap.to_dict(since_pts=17.0)))
    assert (data["frames"], data["window_start"], data["window_end"]) == (3, 17.0, 19.0)
    assert data["polarities"]["positive"][3][3] == 1.0
    whole = heatmap.to_dict()
    assert (whole["grid_w"], whole["grid_h"], whole["window_start"], whole["window_end"]) == (4, 4, 0.0, 19.0)
    assert np.array(whole["polarities"]["neutral"]).shape == (4, 4)
    with pytest.raises(ValueError):
        heatmap.grid("happy")


def test_track_filter_and_restart(face, frame):
    heatmap = SpatialHeatmap(grid_w=4, grid_h=4, track_id=2)
    heatmap.add(frame(0.0, face("sad", track_id=1, box=TOP_LEFT), face("happy", track_id=2, box=BOTTOM_RIGHT)))
    assert heatmap.grid("negative").sum() == 0.0
    assert heatmap.grid("positive")[3, 3] == 1.0
    heatmap.add(frame(-1.0))  # media time went back: a new timeline
    assert heatmap.frames() == 1 and heatmap.grid("positive").sum() == 0.0


def probs(**values: float) -> dict[str, float]:
    return values


def test_temporal_bins_hold_mean_probabilities(face, frame):
    heatmap = TemporalHeatmap(bin_s=5.0)
    for i in range(48):  # 12 s at 4 fps
        pts = i / 4
        first = face("sad", track_id=1, probs=probs(sad=0.6, neutral=0.4) if pts < 5 else probs(happy=1.0))
        faces = [first] + ([face("angry", track_id=2)] if 5 <= pts < 7 else [])
        heatmap.add(frame(pts, *faces))
    data = json.loads(json.dumps(heatmap.to_dict()))
    assert data["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert [(b["start"], b["end"], b["face_frames"]) for b in data["bins"]] == [(0, 5, 20), (5, 10, 28), (10, 15, 8)]
    first, second, third = (b["values"] for b in data["bins"])
    assert (first["sad"], first["neutral"], first["happy"]) == (0.6, 0.4, 0.0)
    assert (second["happy"], second["angry"]) == (round(20 / 28, 4), round(8 / 28, 4))
    assert third["happy"] == 1.0
    for b in data["bins"]:
        assert sum(b["values"].values()) == pytest.approx(1.0, abs=1e-3)

    track = heatmap.to_dict(track_id=2)
    assert track["track_id"] == 2
    assert [b["face_frames"] for b in track["bins"]] == [0, 8, 0]
    assert track["bins"][1]["values"]["angry"] == 1.0
    assert set(track["bins"][0]["values"].values()) == {0.0}


def test_temporal_gaps_are_filled_and_memory_is_bounded(face, frame):
    heatmap = TemporalHeatmap(bin_s=5.0, max_bins=3)
    heatmap.add(frame(0.0, face("sad")))
    heatmap.add(frame(12.0, face("happy")))
    assert [(b["start"], b["face_frames"]) for b in heatmap.to_dict()["bins"]] == [(0, 1), (5, 0), (10, 1)]
    heatmap.add(frame(16.0, face("happy")))
    assert [b["start"] for b in heatmap.to_dict()["bins"]] == [5, 10, 15]
    heatmap.add(frame(3.0, face("sad")))  # restart
    assert [b["start"] for b in heatmap.to_dict()["bins"]] == [0]
    assert TemporalHeatmap().to_dict()["bins"] == []
