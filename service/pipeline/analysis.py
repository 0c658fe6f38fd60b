"""One batched analysis step over frames of any number of streams: face stages, then each stream's analytics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from service.analytics import AlertRule
from service.config import Settings
from service.ingest.frames import VideoFrame
from service.pipeline.faces import FacePipeline, StreamFaces
from service.pipeline.records import FrameRecord
from service.pipeline.stream_analytics import AnalyticsOutput, StreamAnalytics


@dataclass
class StreamState:
    """Everything the analysis remembers about one stream between frames."""

    faces: StreamFaces
    analytics: StreamAnalytics


def new_stream_state(
    settings: Settings, pipeline: FacePipeline, stream_id: str, rules: Iterable[AlertRule] = ()
) -> StreamState:
    """A stream's analysis state: the pipeline's face state, and analytics configured from ``settings``."""
    classifier = pipeline.classifier
    analytics = StreamAnalytics.create(
        stream_id,
        rules,
        classifier.classes,
        classifier.polarity_map,
        window_s=settings.window_s,
        stats_interval_s=settings.stats_interval_s,
    )
    return StreamState(pipeline.new_stream(), analytics)


def analyse(pipeline: FacePipeline, batch: Sequence[tuple[StreamState, VideoFrame]]) -> list[AnalyticsOutput]:
    """The outputs of each (stream, frame) pair, in the order given."""
    records = [(state.faces, FrameRecord(state.analytics.stream_id, frame)) for state, frame in batch]
    pipeline.run(records)
    with pipeline.timer.stage("analytics", items=len(batch)):
        return [state.analytics.add(record) for (state, _), (_, record) in zip(batch, records, strict=True)]
