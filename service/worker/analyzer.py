"""The per-frame pipeline: detect, align, classify, track, then window analytics, as wire messages.

Frames of all streams a worker holds are analysed together: detection runs once per group of same-size
frames and the emotion model once over every face of the batch. Per-stream state (tracker, window, shot-cut
detector, stats schedule) lives in ``StreamAnalysis``; the analytics themselves are the pure classes of
``service.analytics``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from service.analytics import (
    AlertEngine,
    AlertRule,
    FrameObservation,
    ShotCutDetector,
    SlidingWindow,
    WindowStats,
)
from service.emotion.classifier import EmotionClassifier, FaceEmotion
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


@dataclass
class StreamAnalysis:
    """Everything the pipeline remembers about one stream between frames."""

    stream_id: str
    tracker: IouTracker
    window: SlidingWindow
    cuts: ShotCutDetector
    alerts: AlertEngine
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
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.options = options
        self.timer = timer or StageTimer()

    def new_stream(self, stream_id: str, rules: tuple[AlertRule, ...] = ()) -> StreamAnalysis:
        return StreamAnalysis(
            stream_id=stream_id,
            tracker=IouTracker(self.options.track_iou, self.options.track_max_age_s),
            window=SlidingWindow(self.options.window_s),
            cuts=ShotCutDetector(),
            alerts=AlertEngine(rules),
        )

    def analyze(self, batch: list[tuple[StreamAnalysis, VideoFrame]]) -> dict[str, list[dict]]:
        """Analyses frames of any streams; returns the messages to publish, per stream id, in frame order."""
        detections = self._detect([frame for _, frame in batch])
        with self.timer.stage("align", items=sum(len(d) for d in detections)):
            crops = [
                self.classifier.crop(frame.image, d.landmarks)
                for (_, frame), dets in zip(batch, detections, strict=True)
                for d in dets
            ]
        with self.timer.stage("infer", items=len(crops)):
            emotions = self.classifier.classify(crops)
        out: dict[str, list[dict]] = defaultdict(list)
        cursor = 0
        with self.timer.stage("analytics", items=len(batch)):
            for (state, frame), dets in zip(batch, detections, strict=True):
                faces = emotions[cursor : cursor + len(dets)]
                cursor += len(dets)
                out[state.stream_id].extend(self._frame_messages(state, frame, dets, faces))
        return out

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
        self, state: StreamAnalysis, frame: VideoFrame, dets: list[Detection], faces: list[FaceEmotion]
    ) -> list[dict]:
        """Wire messages of one frame; the analytics consume those same messages, as a history replay does."""
        pts = round(frame.pts, 4)
        track_ids = state.tracker.update(np.array([d.box for d in dets]).reshape(-1, 4), frame.pts)
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
                frame_size=list(frame.source_size),
                latency_ms=latency_ms,
            ).model_dump(exclude={"id"})
            for d, f, tid in zip(dets, faces, track_ids, strict=True)
        ]
        cut = state.cuts.update(frame.image)
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
