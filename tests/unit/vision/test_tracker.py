import numpy as np
import pytest

from service.vision.tracker import IouTracker, iou_matrix


def test_iou_matrix_by_hand():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


def test_moving_face_keeps_its_id_and_new_face_gets_a_new_one():
    tracker = IouTracker(iou_threshold=0.3, max_age_s=1.0)
    assert tracker.update(np.array([[0, 0, 100, 100]]), 0.0) == [1]
    assert tracker.update(np.array([[10, 5, 110, 105]]), 0.2) == [1]
    assert tracker.update(np.array([[300, 300, 380, 380], [15, 8, 115, 108]]), 0.4) == [2, 1]


def test_two_faces_swap_order_but_keep_ids():
    tracker = IouTracker()
    left, right = [0, 0, 50, 50], [200, 0, 250, 50]
    assert tracker.update(np.array([left, right]), 0.0) == [1, 2]
    assert tracker.update(np.array([right, left]), 0.1) == [2, 1]


def test_track_expires_after_max_age():
    tracker = IouTracker(max_age_s=1.0)
    tracker.update(np.array([[0, 0, 100, 100]]), 0.0)
    assert tracker.update(np.zeros((0, 4)), 0.5) == []
    assert tracker.update(np.array([[0, 0, 100, 100]]), 0.9) == [1]  # still alive at 0.9 s
    assert tracker.update(np.array([[0, 0, 100, 100]]), 2.5) == [2]  # unseen for 1.6 s: new track


def test_one_detection_cannot_take_two_tracks():
    tracker = IouTracker(iou_threshold=0.1)
    tracker.update(np.array([[0, 0, 100, 100], [50, 0, 150, 100]]), 0.0)
    assert tracker.update(np.array([[25, 0, 125, 100]]), 0.1) in ([1], [2])
    assert len({t.track_id for t in tracker.tracks}) == 2


def test_a_split_track_goes_on_under_a_new_id_and_the_old_id_never_returns():
    tracker = IouTracker(iou_threshold=0.3)
    box = np.array([[10, 10, 60, 60]])
    assert tracker.update(box, 0.0) == [1]
    assert tracker.split(1) == 2  # another person took the place
    assert tracker.update(box, 0.1) == [2] and tracker.update(box + 2, 0.2) == [2]
    assert tracker.update(np.array([[200, 10, 250, 60]]), 0.3) == [3]  # ids keep counting up
    with pytest.raises(KeyError):
        tracker.split(1)
