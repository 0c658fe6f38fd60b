"""Threshold alerts that a producer can trust: persistence, a context check before paging, then cooldown.

From "Multi-task framework for character face recognition and emotion analysis in TV programs": when the
negative share exceeds 50 % over a 60-second window, a context-based secondary verification runs before an
alert, to avoid misjudgements from shot changes or short occlusions. Here a rule's condition must first hold
for ``min_duration_s``; then the named ``CHECKS`` look at the window's context within the ``Verification``
limits (shot cuts, face confidence, track churn, face coverage, and whether the condition still holds in the
current shot); each failing check's name is a suppression reason.
A failed check is reported once per episode as a "suppressed" event, and re-checked on every later frame of
the episode, so an alert still fires once, say, a cut has left the window.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, with_config

from .plain import plain
from .windows import METRICS, SlidingWindow, WindowStats

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True)
class AlertRule:
    """``metric op threshold`` over the last ``window_s`` seconds: per stream, per face track (``per_track``) or
    per character (``per_character``: all the character's tracks, so its window spans shot cuts).

    ``cooldown_s`` and hysteresis: after an alert, the rule stays quiet until its condition has been false
    at least once (one evaluation is enough) and ``cooldown_s`` has passed since the alert; a condition that
    comes back must then persist ``min_duration_s`` again. This dataclass is also the API's and the
    registry's schema of a rule (pydantic validates it by these annotations, then ``__post_init__`` runs).
    """

    metric: Annotated[str, Field(description=f"one of {', '.join(METRICS)}")]
    op: Literal[">", ">=", "<", "<="]
    threshold: float
    window_s: Annotated[float, Field(gt=0, le=3600, description="window length, media seconds")] = 60.0
    min_face_frames: Annotated[int, Field(ge=0, description="face-frames the window needs before it counts")] = 10
    min_duration_s: Annotated[
        float, Field(ge=0, description="the condition must hold this long before verification")
    ] = 3.0
    cooldown_s: Annotated[float, Field(ge=0, description="no second alert of this rule sooner than this")] = 60.0
    per_track: Annotated[bool, Field(description="evaluate for each face track separately")] = False
    per_character: Annotated[
        bool, Field(description="evaluate for each identified character separately (across shot cuts)")
    ] = False
    name: Annotated[str, Field(max_length=100, description="default: built from the other fields")] = ""

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; expected one of {', '.join(METRICS)}")
        if self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r}; expected one of {', '.join(OPS)}")
        if not math.isfinite(self.threshold):
            raise ValueError(f"threshold must be a finite number, got {self.threshold}")
        if not (math.isfinite(self.window_s) and self.window_s > 0):
            raise ValueError(f"window_s must be a positive number of seconds, got {self.window_s}")
        if self.min_face_frames < 0:
            raise ValueError(f"min_face_frames must not be negative, got {self.min_face_frames}")
        if not (math.isfinite(self.min_duration_s) and self.min_duration_s >= 0):
            raise ValueError(f"min_duration_s must be a non-negative number of seconds, got {self.min_duration_s}")
        if not (math.isfinite(self.cooldown_s) and self.cooldown_s >= 0):
            raise ValueError(f"cooldown_s must be a non-negative number of seconds, got {self.cooldown_s}")
        if self.per_track and self.per_character:
            raise ValueError("a rule is per_track or per_character, not both")
        if not self.name:
            suffix = "/track" if self.per_track else "/character" if self.per_character else ""
            object.__setattr__(self, "name", f"{self.metric}{self.op}{self.threshold:g}@{self.window_s:g}s{suffix}")

    def holds(self, value: float | None) -> bool:
        return value is not None and OPS[self.op](value, self.threshold)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # exact: user-given thresholds are not rounded


def unique_rule_names(rules: Iterable[AlertRule]) -> tuple[AlertRule, ...]:
    """The rules, once their names are known to be unique (an alert names its rule); ValueError otherwise."""
    rules = tuple(rules)
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"rule names must be unique, repeated: {', '.join(duplicates)}")
    return rules


DEFAULT_RULE = AlertRule(metric="negative_share", op=">", threshold=0.5, window_s=60.0)
# What a producer asks first: is the room, and is any one person, mostly negative over the last minute.
DEFAULT_RULES: tuple[AlertRule, ...] = (
    DEFAULT_RULE,
    AlertRule(metric="negative_share", op=">", threshold=0.5, window_s=60.0, per_character=True),
)


@dataclass(frozen=True)
class Verification:
    """Limits of the context checks run before an alert (``CHECKS``; each failure is a reason in ``REASONS``).

    ``max_track_churn`` is in identities per minute beyond the faces on screen at once
    (``WindowStats.track_churn``): 12 means a new face identity more than every 5 s on average.
    ``recheck_after_cut``: when the window holds a cut, the condition must also hold over the frames since
    the last cut alone, with at least ``min_face_frames`` face-frames there; otherwise the window is still
    judging the previous shot ("not_after_cut").
    """

    max_cuts: int = 1
    max_low_confidence_share: float = 0.5
    max_track_churn: float = 12.0
    min_coverage: float = 0.3
    recheck_after_cut: bool = True
    max_occluded_share: float = 0.5  # of the episode's face-frames (since the condition began to hold)

    def __post_init__(self) -> None:
        if self.max_cuts < 0:
            raise ValueError(f"max_cuts must not be negative, got {self.max_cuts}")
        if not 0.0 <= self.max_low_confidence_share <= 1.0:
            raise ValueError(f"max_low_confidence_share must be in [0, 1], got {self.max_low_confidence_share}")
        if self.max_track_churn < 0:
            raise ValueError(f"max_track_churn must not be negative, got {self.max_track_churn}")
        if not 0.0 <= self.min_coverage <= 1.0:
            raise ValueError(f"min_coverage must be in [0, 1], got {self.min_coverage}")
        if not 0.0 <= self.max_occluded_share <= 1.0:
            raise ValueError(f"max_occluded_share must be in [0, 1], got {self.max_occluded_share}")


@dataclass(frozen=True)
class CharacterTracks:
    """A character as the alert engine sees it: its id, its name now, and the face tracks it owns."""

    character_id: str
    name: str
    tracks: frozenset[int]

    @property
    def key(self) -> tuple[str, frozenset[int]]:
        """The ``character`` argument of ``SlidingWindow.stats``."""
        return self.character_id, self.tracks


@dataclass(frozen=True)
class CheckContext:
    """What a check looks at: the rule, its target's window, the whole stream's window, and the history."""

    rule: AlertRule
    stats: WindowStats  # the rule's target: the stream, one track or one character
    stream: WindowStats  # the whole stream over the rule's window (cuts and churn are judged here)
    window: SlidingWindow
    pts: float
    limits: Verification
    character: CharacterTracks | None = None  # the target, when it is a character
    since: float | None = None  # when the condition began to hold: the episode


@dataclass(frozen=True)
class Check:
    """One secondary-verification check: its ``name`` is the suppression reason it gives."""

    name: str
    applies: Callable[[AlertRule, Verification], bool]
    fails: Callable[[CheckContext], bool]


def _always(rule: AlertRule, limits: Verification) -> bool:
    return True


def _within_shots(rule: AlertRule, limits: Verification) -> bool:
    """Checks against shot switching guard windows that mix shots; a character's window mixes none: it holds
    only that person's faces, recognised across the cuts (that is what ``per_character`` asks for)."""
    return not rule.per_character


def _holds_after_cut(e: CheckContext) -> bool:
    cut = e.window.last_cut(e.pts, e.rule.window_s)
    if cut is None:
        return True
    character = e.character.key if e.character else None
    after = e.window.stats(e.pts, e.stats.track_id, e.rule.window_s, since_pts=cut, character=character)
    return after.face_frames >= e.rule.min_face_frames and e.rule.holds(after.metric(e.rule.metric))


def _mostly_occluded(e: CheckContext) -> bool:
    """The paper's second cause of misjudgement: the face was covered for most of the episode."""
    character = e.character.key if e.character else None
    episode = e.window.stats(e.pts, e.stats.track_id, e.rule.window_s, since_pts=e.since, character=character)
    return episode.occluded_share > e.limits.max_occluded_share


# A rule about the very thing a check measures must not be suppressed by that check.
CHECKS: tuple[Check, ...] = (
    Check("shot_cuts", _within_shots, lambda e: e.stream.cuts > e.limits.max_cuts),
    Check(
        "low_confidence",
        lambda rule, _: rule.metric not in {"mean_confidence", "low_confidence_share"},
        lambda e: e.stats.low_confidence_share > e.limits.max_low_confidence_share,
    ),
    Check("track_churn", _within_shots, lambda e: e.stream.track_churn > e.limits.max_track_churn),
    Check(
        "occluded_or_absent",
        lambda rule, _: rule.metric != "coverage",
        lambda e: e.stats.coverage < e.limits.min_coverage,
    ),
    Check("occlusion", lambda rule, _: rule.metric != "occluded_share", _mostly_occluded),
    Check(
        "not_after_cut",
        lambda rule, limits: limits.recheck_after_cut and _within_shots(rule, limits),
        lambda e: not _holds_after_cut(e),
    ),
)
REASONS: tuple[str, ...] = tuple(check.name for check in CHECKS)


@dataclass(frozen=True)
class AlertEvent:
    """An alert (verified) or a suppressed candidate, with the numbers that led to it."""

    kind: Literal["alert", "suppressed"]
    rule: str
    metric: str
    op: str
    threshold: float
    value: float
    verified: bool
    reasons: tuple[str, ...]
    pts: float
    window_start: float
    window_end: float
    evidence: Mapping[str, Any]
    track_id: int | None = None
    character_id: str | None = None
    character: str | None = None  # the character's name when the event was raised

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass
class _RuleState:
    """Where one rule (for one track) is in its episode; mutable, private to the engine."""

    since: float | None = None  # when the condition started holding; None while it does not
    suppressed: bool = False  # a suppressed event was already emitted in this episode
    fired_at: float | None = None  # pts of the last alert
    armed: bool = True  # the condition has been false since the last alert (hysteresis)


class AlertEngine:
    """Evaluates alert rules against a stream's ``SlidingWindow``, once per analysed frame or stats tick."""

    def __init__(self, rules: Iterable[AlertRule] = (DEFAULT_RULE,), verification: Verification | None = None) -> None:
        self.verification = verification or Verification()
        self._rules: tuple[AlertRule, ...] = ()
        self._states: dict[tuple[AlertRule, int | str | None], _RuleState] = {}
        self._suppressed: Counter[str] = Counter()
        self._last_pts: float | None = None
        self.set_rules(rules)

    @property
    def rules(self) -> tuple[AlertRule, ...]:
        return self._rules

    @property
    def window_s(self) -> float:
        """History the rules need; ``evaluate`` makes the window keep at least this much."""
        return max((rule.window_s for rule in self._rules), default=0.0)

    def set_rules(self, rules: Iterable[AlertRule]) -> None:
        """Replace the rules; rules kept unchanged keep their episode, cooldown and hysteresis state."""
        rules = unique_rule_names(rules)
        kept = set(rules)
        self._states = {key: state for key, state in self._states.items() if key[0] in kept}
        self._rules = rules

    def suppressed_counts(self) -> dict[str, int]:
        """Suppressed candidate episodes by reason (an episode failing two checks counts under both)."""
        return dict(sorted(self._suppressed.items()))

    def evaluate(
        self, window: SlidingWindow, pts: float, characters: Iterable[CharacterTracks] = ()
    ) -> list[AlertEvent]:
        """Advance every rule to media time ``pts`` and return the events raised now.

        ``characters``: the stream's characters, for ``per_character`` rules (those with a track in the rule's
        window are evaluated).
        """
        if self._last_pts is not None and pts < self._last_pts:
            self._states.clear()  # the source restarted; episodes of the old timeline are meaningless
        self._last_pts = pts
        if not self._rules:
            return []
        window.ensure_retention(self.window_s)
        characters = tuple(characters)
        streams: dict[float, WindowStats] = {}
        events: list[AlertEvent] = []
        for rule in self._rules:
            if rule.window_s not in streams:
                streams[rule.window_s] = window.stats(pts, window_s=rule.window_s)
            stream = streams[rule.window_s]
            targets: list[tuple[WindowStats, CharacterTracks | None]]
            if rule.per_track:
                tracks = window.tracks(pts, rule.window_s)
                targets = [(window.stats(pts, track_id, rule.window_s), None) for track_id in tracks]
            elif rule.per_character:
                present = set(window.tracks(pts, rule.window_s))
                targets = [
                    (window.stats(pts, window_s=rule.window_s, character=c.key), c)
                    for c in characters
                    if c.tracks & present
                ]
            else:
                targets = [(stream, None)]
            if rule.per_track or rule.per_character:
                self._forget(rule, {_target_key(stats) for stats, _ in targets})
            for stats, character in targets:
                event = self._step(rule, stats, stream, window, pts, character)
                if event is not None:
                    events.append(event)
        return events

    def _forget(self, rule: AlertRule, present: set[int | str | None]) -> None:
        for key in [key for key in self._states if key[0] == rule and key[1] not in present]:
            del self._states[key]

    def _step(
        self,
        rule: AlertRule,
        stats: WindowStats,
        stream: WindowStats,
        window: SlidingWindow,
        pts: float,
        character: CharacterTracks | None,
    ) -> AlertEvent | None:
        state = self._states.setdefault((rule, _target_key(stats)), _RuleState())
        value = stats.metric(rule.metric)
        if value is None or stats.face_frames < rule.min_face_frames or not rule.holds(value):
            state.since, state.suppressed, state.armed = None, False, True
            return None
        if state.since is None:
            state.since = pts
        if not state.armed or (state.fired_at is not None and pts - state.fired_at < rule.cooldown_s):
            return None
        persisted = pts - state.since
        if persisted < rule.min_duration_s:
            return None
        reasons = self._verify(
            CheckContext(rule, stats, stream, window, pts, self.verification, character, state.since)
        )
        if not reasons:
            state.fired_at, state.armed = pts, False
        elif state.suppressed:
            return None
        else:
            state.suppressed = True
            self._suppressed.update(reasons)
        return AlertEvent(
            kind="suppressed" if reasons else "alert",
            rule=rule.name,
            metric=rule.metric,
            op=rule.op,
            threshold=rule.threshold,
            value=value,
            verified=not reasons,
            reasons=reasons,
            pts=pts,
            window_start=stats.window_start,
            window_end=stats.window_end,
            evidence=_evidence(stats, stream, persisted),
            track_id=stats.track_id,
            character_id=stats.character_id,
            character=character.name if character else None,
        )

    def _verify(self, context: CheckContext) -> tuple[str, ...]:
        """Names of the checks that fail: the reasons not to trust the condition."""
        return tuple(c.name for c in CHECKS if c.applies(context.rule, self.verification) and c.fails(context))


def _target_key(stats: WindowStats) -> int | str | None:
    """Whose episode a rule state tracks: a track id, a character id, or None for the whole stream."""
    return stats.track_id if stats.track_id is not None else stats.character_id


def _evidence(stats: WindowStats, stream: WindowStats, persisted_s: float) -> dict[str, Any]:
    summary = stats.to_dict()
    keys = (
        "shares",
        "class_shares",
        "frames",
        "face_frames",
        "face_count",
        "coverage",
        "cuts",
        "mean_confidence",
        "low_confidence_share",
    )
    evidence = {key: summary[key] for key in keys}
    evidence.update(track_churn=round(stream.track_churn, 4), persisted_s=round(persisted_s, 4))
    return evidence
