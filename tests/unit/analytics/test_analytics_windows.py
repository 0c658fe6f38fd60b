import json

import pytest

from service.analytics import FaceObservation, SlidingWindow


def test_shares_means_and_counts_over_ten_frames(face, frame):
    window = SlidingWindow(window_s=60.0, low_confidence=0.4)
    labels = ["sad", "sad", "happy", "angry", "neutral", "happy", "fear", "sad", "happy", "surprise"]
    valences = [-0.5, -0.5, 0.8, -0.7, None, 0.6, -0.9, -0.4, 0.5, None]
    confidences = [0.9, 0.3, 0.9, 0.9, 0.2, 0.9, 0.9, 0.9, 0.9, 0.9]
    for i, (label, valence, confidence) in enumerate(zip(labels, valences, confidences, strict=True)):
        window.add(frame(i * 0.5, face(label, valence=valence, arousal=0.5, confidence=confidence)))
    window.add(frame(5.0))  # no face
    window.add(frame(5.5, cut=True))  # no face, a cut

    stats = window.stats()
    assert (stats.frames, stats.frames_with_faces, stats.face_frames, stats.face_count) == (12, 10, 10, 1)
    assert stats.coverage == pytest.approx(10 / 12)
    assert stats.shares == pytest.approx({"positive": 0.3, "negative": 0.5, "neutral": 0.2})
    assert stats.class_shares == pytest.approx(
        {"angry": 0.1, "disgust": 0.0, "fear": 0.1, "happy": 0.3, "sad": 0.3, "surprise": 0.1, "neutral": 0.1}
    )
    assert stats.dominant == "happy"  # tie with sad: the first class in CLASSES order wins
    assert stats.mean_valence == pytest.approx(-1.1 / 8)
    assert stats.mean_arousal == pytest.approx(0.5)
    assert stats.mean_confidence == pytest.approx(7.7 / 10)
    assert stats.low_confidence_share == pytest.approx(0.2)
    assert stats.cuts == 1
    assert (stats.window_s, stats.window_start, stats.window_end, stats.track_id) == (60.0, 0.0, 5.5, None)
    assert stats.metric("negative_share") == pytest.approx(0.5)
    assert stats.metric("sad_share") == pytest.approx(0.3)
    assert stats.metric("neutral_share") == pytest.approx(0.2)  # the polarity: neutral + surprise
    assert stats.metric("coverage") == pytest.approx(10 / 12)
    with pytest.raises(ValueError, match="unknown metric"):
        stats.metric("joy_share")


def test_empty_window_has_zero_shares_and_no_means():
    stats = SlidingWindow().stats()
    assert (stats.frames, stats.face_frames, stats.coverage, stats.dominant) == (0, 0, 0.0, None)
    assert stats.shares == {"positive": 0.0, "negative": 0.0, "neutral": 0.0}
    assert set(stats.class_shares.values()) == {0.0}
    assert (stats.mean_valence, stats.mean_arousal, stats.mean_confidence) == (None, None, None)


def test_old_frames_are_evicted_and_shorter_windows_can_be_asked_for(face, frame):
    window = SlidingWindow(window_s=10.0)
    for second in range(21):  # pts 0..20; track 7 only in the first 5 s
        faces = [face("sad", track_id=1)] + ([face("happy", track_id=7)] if second < 5 else [])
        window.add(frame(float(second), *faces))
    stats = window.stats()
    assert (stats.frames, stats.window_start, stats.window_end) == (10, 11.0, 20.0)  # window is (10, 20]
    assert stats.shares["negative"] == 1.0
    assert window.tracks() == [1]
    short = window.stats(window_s=5.0)
    assert (short.frames, short.window_start) == (5, 16.0)
    past = window.stats(now_pts=15.0, window_s=3.0)
    assert (past.frames, past.window_start, past.window_end) == (3, 13.0, 15.0)
    with pytest.raises(ValueError, match="retained history"):
        window.stats(window_s=11.0)
    window.ensure_retention(30.0)
    assert window.window_s == 30.0


def test_per_track_stats_count_only_that_track_but_every_frame(face, frame):
    window = SlidingWindow()
    for i in range(8):
        faces = [face("angry", track_id=1, valence=-0.8)]
        if i % 2 == 0:
            faces.append(face("happy", track_id=2, valence=0.6))
        window.add(frame(i * 0.25, *faces))

    stream = window.stats()
    assert (stream.face_frames, stream.face_count) == (12, 2)
    assert stream.shares["negative"] == pytest.approx(8 / 12)
    track = window.stats(track_id=2)
    assert (track.frames, track.frames_with_faces, track.face_frames, track.face_count) == (8, 4, 4, 1)
    assert (track.coverage, track.track_id, track.dominant) == (0.5, 2, "happy")
    assert track.shares == {"positive": 1.0, "negative": 0.0, "neutral": 0.0}
    assert track.mean_valence == pytest.approx(0.6)
    missing = window.stats(track_id=99)
    assert (missing.frames, missing.face_frames, missing.face_count, missing.dominant) == (8, 0, 0, None)
    assert window.tracks() == [1, 2]


def test_since_pts_restricts_to_the_frames_after_a_cut(face, frame):
    window = SlidingWindow()
    for i in range(10):
        window.add(frame(float(i), face("sad" if i < 6 else "happy"), cut=i == 6))
    assert window.last_cut() == 6.0
    after = window.stats(since_pts=window.last_cut())
    assert (after.frames, after.face_frames, after.cuts, after.window_start) == (4, 4, 1, 6.0)
    assert after.shares["positive"] == 1.0
    assert window.last_cut(window_s=3.0) is None  # (6, 9] holds no cut


def test_pts_going_backwards_resets_the_window(face, frame):
    window = SlidingWindow()
    for second in range(10):
        window.add(frame(float(second), face("sad"), cut=second == 4))
    window.add(frame(3.0, face("happy")))
    stats = window.stats()
    assert (stats.frames, stats.window_start, stats.window_end, stats.cuts) == (1, 3.0, 3.0, 0)
    assert stats.shares["positive"] == 1.0


def test_track_churn_counts_identities_beyond_the_faces_on_screen(face, frame):
    stable, churny = SlidingWindow(), SlidingWindow()
    for second in range(60):
        stable.add(frame(float(second), face("sad", track_id=1), face("happy", track_id=2)))
        churny.add(frame(float(second), face("sad", track_id=second // 5)))  # a new id every 5 s
    assert stable.stats().track_churn == 0.0
    churn = churny.stats()
    assert churn.face_count == 12
    assert churn.track_churn == pytest.approx(11 * 60 / 59)


def test_to_dict_is_json_and_rounded(face, frame):
    window = SlidingWindow()
    for i in range(3):
        window.add(frame(i / 3, face("sad" if i else "happy", valence=1 / 3)))
    data = json.loads(json.dumps(window.stats().to_dict()))
    assert data["shares"] == {"positive": 0.3333, "negative": 0.6667, "neutral": 0.0}
    assert data["mean_valence"] == 0.3333
    assert data["window_end"] == 0.6667
    assert data["dominant"] == "sad"
    assert data["track_id"] is None


def test_observations_reject_unknown_labels_and_polarities():
    with pytest.raises(ValueError, match="label"):
        FaceObservation(1, "joy", "positive", {}, 0.9, None, None, (0, 0, 1, 1))
    with pytest.raises(ValueError, match="polarity"):
        FaceObservation(1, "happy", "good", {}, 0.9, None, None, (0, 0, 1, 1))


@pytest.mark.parametrize("kwargs", [{"window_s": 0.0}, {"window_s": -1.0}, {"low_confidence": 1.5}])
def test_invalid_window_settings_raise(kwargs):
    with pytest.raises(ValueError):
        SlidingWindow(**kwargs)


def test_character_stats_sum_the_faces_of_all_its_tracks_across_a_cut():
    from service.analytics import FaceObservation, FrameObservation, SlidingWindow

    def obs(track_id: int, polarity: str, label: str) -> FaceObservation:
        return FaceObservation(track_id, label, polarity, {label: 1.0}, 0.9, 0.0, 0.0, (0.1, 0.1, 0.3, 0.3))

    window = SlidingWindow(60)
    window.add(FrameObservation(0.0, (obs(1, "positive", "happy"),)))
    window.add(FrameObservation(1.0, (obs(2, "negative", "sad"),), cut=True))
    window.add(FrameObservation(2.0, (obs(3, "positive", "happy"),), cut=True))
    stats = window.stats(character=("ch_a", frozenset({1, 3})))
    assert stats.character_id == "ch_a" and stats.face_frames == 2 and stats.face_count == 2
    assert stats.shares["positive"] == 1.0 and stats.frames == 3 and stats.cuts == 2
