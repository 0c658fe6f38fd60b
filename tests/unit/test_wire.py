"""The wire: history back into analytics observations, messages encoded once, schemas derived from records."""

import dataclasses
import json

import pytest
from pydantic import TypeAdapter, ValidationError

from service import wire
from service.analytics import AlertEvent, AlertRule, SlidingWindow, WindowStats
from service.schemas import AlertMessage, StatsEvent
from service.wire import observation as face_observation
from service.wire import observations_from_history


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


def test_a_rule_body_validates_into_the_engine_rule_and_bad_metric_is_rejected():
    rules = TypeAdapter(list[AlertRule])
    (rule,) = rules.validate_python([{"metric": "negative_share", "op": ">", "threshold": 0.5}])
    assert isinstance(rule, AlertRule) and rule.window_s == 60.0 and rule.name == "negative_share>0.5@60s"
    with pytest.raises(ValidationError, match="unknown metric"):
        rules.validate_python([{"metric": "joy", "op": ">", "threshold": 0.5}])
    with pytest.raises(ValidationError, match="Unexpected keyword"):
        rules.validate_python([{"metric": "negative_share", "op": ">", "threshold": 0.5, "windw_s": 30}])


def test_stats_and_alert_messages_have_exactly_the_records_fields():
    envelope = {"type", "id", "stream_id"}
    assert set(StatsEvent.model_fields) == envelope | {"pts"} | {f.name for f in dataclasses.fields(WindowStats)}
    assert set(AlertMessage.model_fields) == envelope | {f.name for f in dataclasses.fields(AlertEvent)}


def test_a_stats_message_carries_track_churn_and_validates_as_its_schema():
    window = SlidingWindow()
    window.add(observations_from_history([face(0, 1), frame(0, 1)])[0])
    message = wire.stats_message("s", 0.0, window.stats())
    assert message["track_churn"] == 0.0 and message["shares"]["negative"] == 1.0
    assert StatsEvent(**message).track_churn == 0.0


def test_encoded_once_and_delivered_with_the_id_first():
    encoded = wire.encode(frame(3, 0))
    assert encoded.type == "frame" and json.loads(encoded.body)["frame"] == 3
    delivered = wire.with_id("17-2", encoded.body)
    assert delivered.startswith('{"id":"17-2",') and wire.id_of(delivered) == "17-2"
    assert json.loads(delivered) == {**json.loads(encoded.body), "id": "17-2"}
    assert wire.decode("17-2", encoded.body) == json.loads(delivered)
    assert json.loads(wire.with_id("1-0", "{}")) == {"id": "1-0"}


def test_character_tracks_follow_assignments_merges_and_exclusions():
    history = [
        {"type": "face", "track_id": 1, "character_id": None},
        {"type": "character", "event": "appeared", "character_id": "ch_a", "track_id": 1},
        {"type": "face", "track_id": 1, "character_id": "ch_a"},
        {"type": "face", "track_id": 2, "character_id": "ch_b"},
        {"type": "face", "track_id": 3, "character_id": "ch_a"},
        {"type": "character", "event": "excluded", "character_id": "ch_a", "track_id": 3},
        {"type": "character", "event": "removed", "character_id": "ch_b", "merged_into": "ch_a"},
    ]
    assert wire.character_tracks(history) == {"ch_a": {1, 2}}


def test_character_names_are_the_latest_given_and_a_frame_keeps_only_chosen_tracks():
    history = [
        {"type": "character", "event": "appeared", "character_id": "ch_a", "character": "person 1", "track_id": 1},
        {"type": "face", "track_id": 1, "character_id": "ch_a", "character": "person 1"},
        {"type": "character", "event": "named", "character_id": "ch_a", "character": "Ada"},
        {"type": "face", "track_id": 2, "character_id": None, "character": None},
    ]
    assert wire.character_names(history) == {"ch_a": "Ada"}
    (obs,) = observations_from_history([face(0, 1), face(0, 2), frame(0, 2)])
    only = obs.only({2})
    assert [f.track_id for f in only.faces] == [2] and (only.pts, only.cut) == (obs.pts, obs.cut)


def test_evidence_boxes_pick_the_alerts_subject_from_its_frame():
    frame = [
        {"track_id": track_id, "character_id": character_id, "box": [x, 0, x + 9, 9]}
        for track_id, character_id, x in ((1, "ch_a", 0), (2, "ch_b", 10), (3, None, 20))
    ]

    def alert(track_id: int | None = None, character_id: str | None = None) -> dict:
        return {"track_id": track_id, "character_id": character_id}

    assert wire.evidence_boxes(frame, alert(character_id="ch_b")) == ([[10, 0, 19, 9]], [[0, 0, 9, 9], [20, 0, 29, 9]])
    assert wire.evidence_boxes(frame, alert(track_id=3))[0] == [[20, 0, 29, 9]]
    assert len(wire.evidence_boxes(frame, alert())[0]) == 3  # a whole-stream rule: every face is its subject
