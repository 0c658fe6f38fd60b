import json
from collections.abc import Callable, Iterable

import pytest

from service.analytics import (
    DEFAULT_RULE,
    AlertEngine,
    AlertEvent,
    AlertRule,
    CharacterTracks,
    FrameObservation,
    SlidingWindow,
    Verification,
)

Labeller = Callable[[int, float], str | None]


@pytest.fixture
def scene(face, frame):
    """Frames at ``fps`` for ``seconds``: one face (track 1) labelled by ``label(i, pts)``, or none if it says None."""

    def build(seconds: float, fps: int, label: Labeller, cuts: Iterable[float] = (), **face_kwargs):
        cut_set = set(cuts)
        frames = []
        for i in range(int(seconds * fps)):
            pts = i / fps
            name = label(i, pts)
            faces = () if name is None else (face(name, **face_kwargs),)
            frames.append(frame(pts, *faces, cut=pts in cut_set))
        return frames

    return build


def play(engine: AlertEngine, frames: Iterable[FrameObservation], window: SlidingWindow | None = None):
    window = window or SlidingWindow(window_s=60.0)
    events: list[AlertEvent] = []
    for obs in frames:
        window.add(obs)
        events.extend(engine.evaluate(window, obs.pts))
    return events


def seventy_percent_negative(i: int, pts: float) -> str:
    return "sad" if i % 10 < 7 else "happy"


def test_persistent_negative_scene_raises_exactly_one_verified_alert(scene):
    engine = AlertEngine([DEFAULT_RULE])
    events = play(engine, scene(120, 5, seventy_percent_negative))
    assert len(events) == 1
    alert = events[0]
    assert (alert.kind, alert.verified, alert.reasons, alert.rule) == ("alert", True, (), "negative_share>0.5@60s")
    # holds from pts 1.8 (10th face-frame), fires once it has persisted 3 s; 19 of 25 face-frames are negative
    assert alert.pts == pytest.approx(4.8)
    assert alert.value == pytest.approx(19 / 25)
    assert (alert.window_start, alert.window_end) == (0.0, pytest.approx(4.8))
    assert alert.evidence["face_frames"] == 25
    assert alert.evidence["persisted_s"] == pytest.approx(3.0)
    assert alert.evidence["cuts"] == 0
    assert alert.track_id is None
    assert engine.suppressed_counts() == {}
    data = json.loads(json.dumps(alert.to_dict()))
    assert data["reasons"] == [] and data["value"] == 0.76 and data["evidence"]["shares"]["negative"] == 0.76


def test_cuts_in_the_window_suppress_until_they_leave_it(scene):
    engine = AlertEngine([DEFAULT_RULE])
    events = play(engine, scene(70, 5, seventy_percent_negative, cuts=(2.0, 3.0)))
    assert [(e.kind, e.reasons) for e in events] == [("suppressed", ("shot_cuts",)), ("alert", ())]
    suppressed, alert = events
    assert (suppressed.pts, suppressed.verified, suppressed.evidence["cuts"]) == (pytest.approx(4.8), False, 2)
    assert alert.pts == pytest.approx(62.0)  # the cut at 2.0 left the 60 s window (62 - 60, 62]
    assert engine.suppressed_counts() == {"shot_cuts": 1}


def test_a_window_still_judging_the_previous_shot_is_suppressed(scene):
    def negative_then_positive(i: int, pts: float) -> str:
        return "sad" if pts < 20 else "happy"

    frames = scene(60, 5, negative_then_positive, cuts=(20.0,))
    rule = AlertRule("negative_share", ">", 0.5, min_duration_s=25.0)  # the first shot alone never persists enough
    engine = AlertEngine([rule])
    events = play(engine, frames)
    assert [(e.kind, e.reasons, e.pts) for e in events] == [("suppressed", ("not_after_cut",), pytest.approx(26.8))]
    assert engine.suppressed_counts() == {"not_after_cut": 1}

    lenient = AlertEngine([rule], Verification(recheck_after_cut=False))
    assert [(e.kind, e.pts) for e in play(lenient, frames)] == [("alert", pytest.approx(26.8))]


def test_low_confidence_and_missing_faces_are_suppressed(scene):
    rule = AlertRule("negative_share", ">", 0.5, min_face_frames=5)
    blurry = play(AlertEngine([rule]), scene(10, 4, lambda i, pts: "sad", confidence=0.2))
    assert [(e.kind, e.reasons) for e in blurry] == [("suppressed", ("low_confidence",))]
    rare = play(AlertEngine([rule]), scene(30, 4, lambda i, pts: "sad" if i % 5 == 0 else None))
    assert [(e.kind, e.reasons, e.pts) for e in rare] == [("suppressed", ("occluded_or_absent",), 8.0)]
    assert rare[0].evidence["coverage"] == round(7 / 33, 4)  # faces in 7 of the 33 frames up to 8.0


def test_track_churn_suppresses(face, frame):
    frames = [frame(i / 4, face("sad", track_id=i // 8)) for i in range(80)]  # a new identity every 2 s
    engine = AlertEngine([AlertRule("negative_share", ">", 0.5, min_duration_s=10.0)])
    events = play(engine, frames)
    assert [(e.kind, e.reasons) for e in events] == [("suppressed", ("track_churn",))]
    assert events[0].evidence["track_churn"] > 12


def test_hysteresis_no_second_alert_while_the_condition_never_clears(scene):
    rule = AlertRule("negative_share", ">", 0.5, window_s=2.0, min_face_frames=4, min_duration_s=1.0, cooldown_s=20.0)
    events = play(AlertEngine([rule]), scene(60, 4, lambda i, pts: "sad"))
    assert [(e.kind, e.pts) for e in events] == [("alert", 1.75)]


def test_cooldown_holds_back_a_condition_that_returns_and_fires_once_it_elapsed(scene):
    rule = AlertRule("negative_share", ">", 0.5, window_s=2.0, min_face_frames=4, min_duration_s=1.0, cooldown_s=20.0)

    def dip_within_cooldown(i: int, pts: float) -> str:
        return "happy" if 10 <= pts < 14 else "sad"

    events = play(AlertEngine([rule]), scene(30, 4, dip_within_cooldown))
    # 1.75: first alert. Clears at 10.75, holds again from 15.0 (5 of 8 frames negative) but the cooldown
    # runs until 21.75: nothing in between, then one alert as soon as it has elapsed.
    assert [(e.kind, e.pts) for e in events] == [("alert", 1.75), ("alert", 21.75)]


def test_after_the_cooldown_and_a_reset_a_second_alert_fires(scene):
    rule = AlertRule("negative_share", ">", 0.5, window_s=2.0, min_face_frames=4, min_duration_s=1.0, cooldown_s=20.0)

    def two_episodes(i: int, pts: float) -> str:
        return "happy" if 10 <= pts < 30 else "sad"

    events = play(AlertEngine([rule]), scene(40, 4, two_episodes))
    assert [(e.kind, e.pts) for e in events] == [("alert", 1.75), ("alert", 32.0)]  # holds again from 31.0


def test_min_face_frames_is_respected(face, frame):
    frames = [frame(i / 4, face("sad")) for i in range(8)] + [frame(2 + i / 4) for i in range(20)]
    assert play(AlertEngine([DEFAULT_RULE]), frames) == []  # 8 face-frames < 10
    rule = AlertRule("negative_share", ">", 0.5, min_face_frames=5, min_duration_s=0.5)
    events = play(AlertEngine([rule], Verification(min_coverage=0.0)), frames)
    assert [(e.kind, e.pts) for e in events] == [("alert", 1.5)]  # holds from 1.0 (5th face-frame)


def test_per_track_rule_alerts_for_the_negative_track_only(face, frame):
    frames = [frame(i / 4, face("happy", track_id=1), face("sad", track_id=2)) for i in range(40)]
    per_track = AlertRule("negative_share", ">", 0.5, min_face_frames=4, min_duration_s=1.0, per_track=True)
    stream = AlertRule("negative_share", ">", 0.5, min_face_frames=4, min_duration_s=1.0)
    events = play(AlertEngine([per_track, stream]), frames)
    assert [(e.rule, e.track_id, e.pts) for e in events] == [("negative_share>0.5@60s/track", 2, 1.75)]
    assert events[0].evidence["face_count"] == 1


def test_per_character_rule_keeps_one_episode_across_the_cuts_that_end_tracks(face, frame):
    # host and guest share the frame for 30 s; cuts at 10 s and 20 s end both tracks each time
    def at(i: int) -> FrameObservation:
        pts, shot = i / 4, i // 40
        return frame(pts, face("happy", track_id=1 + 2 * shot), face("sad", track_id=2 + 2 * shot), cut=i in (40, 80))

    characters = [
        CharacterTracks("ch_host", "Host", frozenset({1, 3, 5})),
        CharacterTracks("ch_guest", "Guest", frozenset({2, 4, 6})),
    ]
    kwargs = {"min_face_frames": 8, "min_duration_s": 1.0}
    rules = [AlertRule("negative_share", ">", 0.5, per_character=True, **kwargs)]
    rules.append(AlertRule("negative_share", ">", 0.5, per_track=True, **kwargs))
    engine, window, events = AlertEngine(rules), SlidingWindow(), []
    for obs in map(at, range(120)):
        window.add(obs)
        events.extend(engine.evaluate(window, obs.pts, characters))
    alerts = [(e.rule, e.track_id, e.character_id, e.character, e.pts) for e in events if e.kind == "alert"]
    assert alerts == [
        ("negative_share>0.5@60s/character", None, "ch_guest", "Guest", 2.75),  # once: the guest is still sad
        ("negative_share>0.5@60s/track", 2, None, None, 2.75),
        ("negative_share>0.5@60s/track", 4, None, None, 14.25),  # a new track, a new episode of the same person
    ]
    guest = window.stats(window_s=60, character=characters[1].key)
    assert (guest.character_id, guest.face_count, guest.face_frames) == ("ch_guest", 3, 120)
    assert rules[0].name == "negative_share>0.5@60s/character"
    with pytest.raises(ValueError, match="not both"):
        AlertRule("negative_share", ">", 0.5, per_track=True, per_character=True)


def test_set_rules_keeps_unchanged_rules_and_resets_removed_ones(scene):
    frames = scene(40, 4, lambda i, pts: "sad")
    window = SlidingWindow()
    engine = AlertEngine([DEFAULT_RULE])
    assert [e.pts for e in play(engine, frames[:40], window)] == [5.25]
    engine.set_rules([DEFAULT_RULE, AlertRule("sad_share", ">=", 0.9)])
    assert [(e.rule, e.pts) for e in play(engine, frames[40:80], window)] == [("sad_share>=0.9@60s", 13.0)]
    engine.set_rules([])
    assert play(engine, frames[80:84], window) == []
    engine.set_rules([DEFAULT_RULE])
    events = play(engine, frames[84:], window)
    assert [(e.rule, e.pts) for e in events] == [("negative_share>0.5@60s", 24.0)]  # 21.0 + 3 s persistence


def test_pts_going_backwards_starts_afresh(scene):
    frames = scene(10, 4, lambda i, pts: "sad")
    engine, window = AlertEngine([DEFAULT_RULE]), SlidingWindow()
    assert [e.pts for e in play(engine, frames, window)] == [5.25]  # 10th face-frame at 2.25, + 3 s
    assert [e.pts for e in play(engine, frames, window)] == [5.25]  # replay of the same file: same alert


def test_rule_names_and_validation():
    assert DEFAULT_RULE.name == "negative_share>0.5@60s"
    assert AlertRule("sad_share", ">=", 0.4, window_s=30, per_track=True).name == "sad_share>=0.4@30s/track"
    assert AlertRule("coverage", "<", 0.2, name="faces gone").name == "faces gone"
    assert DEFAULT_RULE.to_dict()["min_face_frames"] == 10
    with pytest.raises(ValueError, match="unknown metric"):
        AlertRule("joy_share", ">", 0.5)
    with pytest.raises(ValueError, match="unknown op"):
        AlertRule("negative_share", "=>", 0.5)
    with pytest.raises(ValueError, match="window_s"):
        AlertRule("negative_share", ">", 0.5, window_s=-60)
    with pytest.raises(ValueError, match="window_s"):
        AlertRule("negative_share", ">", 0.5, window_s=0)
    with pytest.raises(ValueError, match="min_face_frames"):
        AlertRule("negative_share", ">", 0.5, min_face_frames=-1)
    with pytest.raises(ValueError, match="cooldown_s"):
        AlertRule("negative_share", ">", 0.5, cooldown_s=-1)
    with pytest.raises(ValueError, match="threshold"):
        AlertRule("negative_share", ">", float("nan"))
    with pytest.raises(ValueError, match="unique"):
        AlertEngine([DEFAULT_RULE, AlertRule("negative_share", ">", 0.5)])


def test_suppression_reasons_are_the_names_of_the_checks():
    from service.analytics import CHECKS, REASONS

    assert tuple(check.name for check in CHECKS) == REASONS
    assert len(set(REASONS)) == len(REASONS)
    by_name = {check.name: check for check in CHECKS}
    limits = Verification()
    # a rule about confidence or coverage is not suppressed by the check that measures exactly that
    assert not by_name["low_confidence"].applies(AlertRule("mean_confidence", "<", 0.5), limits)
    assert not by_name["occluded_or_absent"].applies(AlertRule("coverage", "<", 0.2), limits)
    assert by_name["occluded_or_absent"].applies(DEFAULT_RULE, limits)
    assert not by_name["not_after_cut"].applies(DEFAULT_RULE, Verification(recheck_after_cut=False))
    # a character's window holds one person across cuts: the checks against shot switching do not apply to it
    per_character = AlertRule("negative_share", ">", 0.5, per_character=True)
    for name in ("shot_cuts", "track_churn", "not_after_cut"):
        assert by_name[name].applies(DEFAULT_RULE, limits) and not by_name[name].applies(per_character, limits)
    assert by_name["low_confidence"].applies(per_character, limits)


def test_an_episode_mostly_under_occlusion_is_suppressed_with_that_reason(face, frame):
    # a sad face, covered by a hand from 3.6 s to 9 s (its label held sad meanwhile); the condition holds from 0 s
    rule = AlertRule("negative_share", ">", 0.5, window_s=10, min_face_frames=5, min_duration_s=8.0)
    frames = [frame(i / 5, face("sad", occluded=3.6 <= i / 5 < 9)) for i in range(60)]
    events = play(AlertEngine([rule]), frames)
    # the condition holds from 0.8 s (5 face-frames), persists 8 s: 5.2 of those 8 s were covered
    assert [(e.kind, e.reasons, e.pts) for e in events] == [("suppressed", ("occlusion",), 8.8)]
    clear = [frame(i / 5, face("sad", occluded=4 <= i / 5 < 6)) for i in range(60)]
    assert [e.kind for e in play(AlertEngine([rule]), clear)] == ["alert"]  # 2 of 8 s: the face was seen


def test_a_rule_about_occlusion_itself_is_not_suppressed_by_it(face, frame):
    from service.analytics import CHECKS

    check = {c.name: c for c in CHECKS}["occlusion"]
    assert not check.applies(AlertRule("occluded_share", ">", 0.5), Verification())
    window = SlidingWindow()
    for i in range(10):
        window.add(frame(i / 5, face("sad", occluded=i < 4), face("happy", track_id=2)))
    assert window.stats().occluded_share == pytest.approx(4 / 20)
