"""Replaying history into analytics observations: frames with and without faces, truncated history."""

import pytest

from service.analytics import AlertRule
from service.schemas import AlertRuleSpec
from service.timeline import face_observation, observations_from_history, rule_from_spec


def face(frame: int, track: int, label: str = "sad", polarity: str = "negative") -> dict:
    return {
        "type": "face",
        "frame": frame,
        "pts": frame / 5,
        "track_id": track,
        "label": label,
        "polarity": polarity,
        "probs": {label: 1.0},
        "confidence": 0.9,
        "valence": -0.5,
        "arousal": 0.1,
        "box": [64, 36, 128, 108],
        "frame_size": [640, 360],
    }


def frame(index: int, faces: int, cut: bool = False) -> dict:
    return {"type": "frame", "frame": index, "pts": index / 5, "faces": faces, "cut": cut, "frame_size": [640, 360]}


def test_box_is_normalised_by_frame_size():
    observation = face_observation(face(0, 1))
    assert observation.box == pytest.approx((0.1, 0.1, 0.2, 0.3))
    assert (observation.track_id, observation.label, observation.valence) == (1, "sad", -0.5)


def test_frames_group_their_faces_and_keep_empty_frames_and_cuts():
    messages = [
        face(0, 1),
        face(0, 2, "happy", "positive"),
        frame(0, 2),
        {"type": "stats"},
        frame(1, 0, cut=True),
        face(2, 1),
        frame(2, 1),
        {"type": "alert"},
    ]
    frames = observations_from_history(messages)
    assert [len(f.faces) for f in frames] == [2, 0, 1]
    assert [f.cut for f in frames] == [False, True, False]
    assert [f.pts for f in frames] == [0.0, 0.2, 0.4]
    assert [x.track_id for x in frames[0].faces] == [1, 2]


def test_truncated_history_keeps_only_the_faces_that_belong_to_a_frame():
    # the cap cut frame 0's first face away; a face before any record belongs to frame 0's record
    messages = [face(0, 2), frame(0, 1), face(1, 1), face(1, 2), frame(1, 2)]
    frames = observations_from_history(messages)
    assert [len(f.faces) for f in frames] == [1, 2]


def test_rule_spec_builds_an_engine_rule_and_bad_metric_is_rejected():
    rule = rule_from_spec(AlertRuleSpec(metric="negative_share", op=">", threshold=0.5))
    assert isinstance(rule, AlertRule) and rule.window_s == 60.0
    with pytest.raises(ValueError):
        rule_from_spec(AlertRuleSpec(metric="joy", op=">", threshold=0.5))
