"""The per-frame pipeline: detect, track, align, classify, temporal head, then window analytics.

Frames of all streams a worker holds are analysed together: detection runs once per group of same-size
frames, the emotion backbone once over every face of the batch, and the temporal head once over the cached
windows of every tracked face (each face's label is the head's, over its track's last S frames).
Per-stream state (tracker, feature cache, window, shot-cut detector, stats schedule) lives in
``StreamAnalysis``; the analytics themselves are the pure classes of ``service.analytics``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch

from models.feature_cache import TrackFeatureCache
from service.analytics import (
    AlertEngine,
    AlertRule,
    FrameObservation,
    LabelHold,
    ShotCutDetector,
    SlidingWindow,
    WindowStats,
)
from service.emotion.classifier import EmotionClassifier, FaceEmotion
from service.emotion.temporal import TrackTemporal
from service.ingest.frames import VideoFrame
from service.schemas import AlertMessage, FaceEvent, FrameEvent, StatsEvent
from service.timeline import face_observation
from service.vision.detector import Detection, FaceDetector
from service.vision.tracker import IouTracker
from service.worker.timing import StageTimer


@dataclass(frozen=True)
class AnalysisOptions:
    window_s: float = 60.0
    stats_interval_s: float = 1.0
    track_iou: float = 0.3
    track_max_age_s: float = 1.5
    label_margin: float = 0.1
    label_hold_s: float = 0.3


@dataclass
class StreamAnalysis:
    """Everything the pipeline remembers about one stream between frames."""

    stream_id: str
    tracker: IouTracker
    window: SlidingWindow
    cuts: ShotCutDetector
    alerts: AlertEngine
    labels: LabelHold = field(default_factory=LabelHold)
    features: TrackFeatureCache | None = None  # per-track D′4 maps for the temporal head
    next_tick: float | None = None
    frames_analysed: int = 0
    faces: int = 0
    alerts_raised: int = 0
    last_pts: float | None = None
    latest_stats: dict | None = field(default=None, repr=False)


class FrameAnalyzer:
    def __init__(
        self,
        detector: FaceDetector,
        classifier: EmotionClassifier,
        options: AnalysisOptions,
        timer: StageTimer | None = None,
        temporal: TrackTemporal | None = None,
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.temporal = temporal
        self.options = options
        self.timer = timer or StageTimer()

    def new_stream(self, stream_id: str, rules: tuple[AlertRule, ...] = ()) -> StreamAnalysis:
        return StreamAnalysis(
            stream_id=stream_id,
            tracker=IouTracker(self.options.track_iou, self.options.track_max_age_s),
            window=SlidingWindow(self.options.window_s),
            cuts=ShotCutDetector(),
            alerts=AlertEngine(rules),
            labels=LabelHold(self.options.label_margin, self.options.label_hold_s),
            features=self.temporal.new_cache() if self.temporal else None,
        )

    def analyze(self, batch: list[tuple[StreamAnalysis, VideoFrame]]) -> dict[str, list[dict]]:
        """Analyses frames of any streams; returns the messages to publish, per stream id, in frame order."""
        detections = self._detect([frame for _, frame in batch])
        with self.timer.stage("track", items=len(batch)):
            cuts = [state.cuts.update(frame.image) for state, frame in batch]
            track_ids = [
                state.tracker.update(np.array([d.box for d in dets]).reshape(-1, 4), frame.pts)
                for (state, frame), dets in zip(batch, detections, strict=True)
            ]
            for (state, _), cut in zip(batch, cuts, strict=True):
                self._forget_ended_tracks(state, cut)
        with self.timer.stage("align", items=sum(len(d) for d in detections)):
            crops = [
                self.classifier.crop(frame.image, d.landmarks)
                for (_, frame), dets in zip(batch, detections, strict=True)
                for d in dets
            ]
        with self.timer.stage("infer", items=len(crops)):
            inferred = self.classifier.infer(crops)
            frame_labels = [self.classifier.classes[int(i)] for i in inferred.probs.argmax(axis=1)]
        with self.timer.stage("temporal", items=len(crops)):
            if self.temporal:
                probs, valence_arousal = self._temporal(batch, track_ids, inferred.maps)
            else:
                probs, valence_arousal = inferred.probs, inferred.valence_arousal
            shown = self._held_labels(batch, track_ids, probs)
            emotions = self.classifier.emotions(probs, valence_arousal, shown)
        out: dict[str, list[dict]] = defaultdict(list)
        cursor = 0
        with self.timer.stage("analytics", items=len(batch)):
            for (state, frame), dets, ids, cut in zip(batch, detections, track_ids, cuts, strict=True):
                faces = emotions[cursor : cursor + len(dets)]
                own = frame_labels[cursor : cursor + len(dets)]
                cursor += len(dets)
                out[state.stream_id].extend(self._frame_messages(state, frame, cut, dets, ids, faces, own))
        return out

    @staticmethod
    def _forget_ended_tracks(state: StreamAnalysis, cut: bool) -> None:
        """Drops the cached maps and held labels of tracks that ended; a shot cut ends them all (the frames
        before it show another shot, and neither a window nor a label may carry over into it)."""
        alive = () if cut else tuple(track.track_id for track in state.tracker.tracks)
        state.labels.keep_only(alive)
        if state.features is not None:
            state.features.prune(alive)

    def _temporal(
        self, batch: list[tuple[StreamAnalysis, VideoFrame]], track_ids: list[list[int]], maps: torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pushes every face's D′4 map into its track's cache; (probs, V/A) of each face from its track's window."""
        assert self.temporal is not None
        items = []
        for (state, frame), ids in zip(batch, track_ids, strict=True):
            assert state.features is not None
            for tid in ids:
                items.append((state.features, tid, frame.pts, maps[len(items)]))
        probs, valence_arousal, _ = self.temporal.update(items)
        return probs, valence_arousal

    @staticmethod
    def _held_labels(
        batch: list[tuple[StreamAnalysis, VideoFrame]], track_ids: list[list[int]], probs: np.ndarray
    ) -> list[int]:
        """The label each face shows (``LabelHold``)."""
        shown: list[int] = []
        for (state, frame), ids in zip(batch, track_ids, strict=True):
            for tid in ids:
                shown.append(state.labels.decide(tid, frame.pts, probs[len(shown)]))
        return shown

    def _detect(self, frames: list[VideoFrame]) -> list[list[Detection]]:
        by_size: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for index, frame in enumerate(frames):
            by_size[frame.image.shape].append(index)
        results: list[list[Detection]] = [[] for _ in frames]
        with self.timer.stage("detect", items=len(frames)):
            for indices in by_size.values():
                for index, found in zip(indices, self.detector.detect([frames[i].image for i in indices]), strict=True):
                    results[index] = found
        return results

    def _frame_messages(
        self,
        state: StreamAnalysis,
        frame: VideoFrame,
        cut: bool,
        dets: list[Detection],
        track_ids: list[int],
        faces: list[FaceEmotion],
        frame_labels: list[str],
    ) -> list[dict]:
        """Wire messages of one frame; the analytics consume those same messages, as a history replay does."""
        pts = round(frame.pts, 4)
        latency_ms = round((time.monotonic() - frame.decoded_at) * 1000, 1)
        scale = frame.scale
        messages: list[dict] = [
            FaceEvent(
                stream_id=state.stream_id,
                pts=pts,
                frame=frame.index,
                track_id=tid,
                box=[round(float(v) * scale, 1) for v in d.box],
                landmarks=[[round(float(x) * scale, 1), round(float(y) * scale, 1)] for x, y in d.landmarks],
                det_score=round(d.score, 4),
                probs={k: round(v, 4) for k, v in f.probs.items()},
                label=f.label,
                polarity=f.polarity,
                confidence=round(f.confidence, 4),
                valence=round(f.valence, 4),
                arousal=round(f.arousal, 4),
                frame_label=own,
                frame_size=list(frame.source_size),
                latency_ms=latency_ms,
            ).model_dump(exclude={"id"})
            for d, f, own, tid in zip(dets, faces, frame_labels, track_ids, strict=True)
        ]
        state.window.add(FrameObservation(pts=pts, faces=tuple(map(face_observation, messages)), cut=cut))
        state.frames_analysed += 1
        state.faces += len(dets)
        state.last_pts = pts
        messages.append(
            FrameEvent(
                stream_id=state.stream_id,
                pts=pts,
                frame=frame.index,
                faces=len(dets),
                cut=cut,
                frame_size=list(frame.source_size),
            ).model_dump(exclude={"id"})
        )
        for event in state.alerts.evaluate(state.window, pts):
            state.alerts_raised += event.kind == "alert"
            messages.append(AlertMessage(stream_id=state.stream_id, **event.to_dict()).model_dump(exclude={"id"}))
        if (
            state.next_tick is None
            or pts >= state.next_tick
            or pts < state.next_tick - 2 * self.options.stats_interval_s
        ):
            state.next_tick = pts + self.options.stats_interval_s
            messages.extend(self.stats_messages(state))
        return messages

    def stats_messages(self, state: StreamAnalysis) -> list[dict]:
        """Window statistics of the whole stream (kept as latest) and of each track in the window."""
        pts = state.last_pts or 0.0
        window_s = self.options.window_s
        overall = stats_message(state.stream_id, pts, state.window.stats(window_s=window_s))
        state.latest_stats = overall
        per_track = [
            stats_message(state.stream_id, pts, state.window.stats(track_id=tid, window_s=window_s))
            for tid in state.window.tracks(window_s=window_s)
        ]
        return [overall, *per_track]


def stats_message(stream_id: str, pts: float, stats: WindowStats) -> dict:
    """A ``stats`` wire message from window statistics."""
    data = stats.to_dict()
    fields = {k: data[k] for k in StatsEvent.model_fields if k in data and k not in {"type", "id", "stream_id", "pts"}}
    return StatsEvent(stream_id=stream_id, pts=round(pts, 4), **fields).model_dump(exclude={"id"})
