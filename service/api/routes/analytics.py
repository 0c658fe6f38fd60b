"""What producers act on: window statistics, alerts and their rules, heatmaps.

Without query parameters ``/stats`` returns the worker's latest tick. With ``window`` or ``track`` it replays
the stream's history through the same pure analytics the worker runs, so any window up to the retained
history can be asked for, live or after the stream ended. Heatmaps are built the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from service import wire
from service.analytics import (
    POLARITIES,
    AlertRule,
    SaliencyHeatmap,
    SlidingWindow,
    SpatialHeatmap,
    TemporalHeatmap,
    render_saliency_png,
    render_spatial_png,
    render_temporal_png,
    unique_rule_names,
)
from service.api.deps import (
    GalleryDep,
    HistoryDep,
    KeyframesDep,
    MutationDep,
    RegistryDep,
    SettingsDep,
    StreamDep,
)
from service.bus.gallery import GalleryStore
from service.bus.history import History
from service.bus.keyframes import KeyframeStore
from service.schemas import (
    CHARACTER_ID,
    MAX_ALERT_RULES,
    AlertMessage,
    AlertPage,
    ErrorBody,
    HistoryId,
    StatsEvent,
    StreamInfo,
    StreamStatus,
)

router = APIRouter(prefix="/streams", tags=["analytics"])


class StatsResponse(BaseModel):
    stream_id: str
    status: StreamStatus
    stats: StatsEvent | None  # null until the first analysed frame


def check_rules(rules: list[AlertRule]) -> None:
    """422 when two rules share a name (each rule was already checked on its own by validation)."""
    try:
        unique_rule_names(rules)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


@router.get("/{stream_id}/stats", response_model=StatsResponse, responses={404: {"model": ErrorBody}})
def get_stats(
    info: StreamDep,
    registry: RegistryDep,
    history: HistoryDep,
    settings: SettingsDep,
    window: Annotated[
        float | None, Query(gt=0, le=3600, description="window length, media seconds (default: the service's)")
    ] = None,
    track: Annotated[int | None, Query(ge=1, le=2**62, description="only this face track")] = None,
    character: Annotated[
        str | None, Query(pattern=CHARACTER_ID, description="only this character (all its tracks, across cuts)")
    ] = None,
) -> StatsResponse:
    """Window statistics: positive / negative / neutral shares over face-frames, valence, arousal, dominant emotion."""
    if window is None and track is None and character is None:
        latest = registry.latest_stats(info.id)
        return StatsResponse(stream_id=info.id, status=info.status, stats=StatsEvent(**latest) if latest else None)
    window_s = window or settings.window_s
    messages = history.recent(info.id, window_s)
    frames = wire.observations_from_history(messages)
    if not frames:
        return StatsResponse(stream_id=info.id, status=info.status, stats=None)
    sliding = SlidingWindow(window_s)
    for frame in frames:
        sliding.add(frame)
    chosen = None
    if character is not None:
        chosen = (character, frozenset(wire.character_tracks(messages).get(character, ())))
    stats = wire.stats_message(info.id, frames[-1].pts, sliding.stats(track_id=track, character=chosen))
    return StatsResponse(stream_id=info.id, status=info.status, stats=StatsEvent(**stats))


@router.get("/{stream_id}/alerts", response_model=AlertPage, responses={404: {"model": ErrorBody}})
def get_alerts(
    info: StreamDep,
    history: HistoryDep,
    registry: RegistryDep,
    since: Annotated[HistoryId | None, Query(description="alert history id; alerts after it")] = None,
    kind: Annotated[
        Literal["alert", "suppressed", "all"], Query(description="verified alerts, suppressed candidates, or both")
    ] = "alert",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertPage:
    """Alerts from the durable per-stream alert history, oldest first, each with its window in media seconds."""
    messages, cursor = history.alerts(info.id, since, limit, keep=lambda m: kind == "all" or m["kind"] == kind)
    return AlertPage(
        alerts=[AlertMessage(**m) for m in messages], next=cursor, suppressed_counts=registry.suppressed_counts(info.id)
    )


@router.get("/{stream_id}/alert-rules", response_model=list[AlertRule], responses={404: {"model": ErrorBody}})
def get_alert_rules(info: StreamDep) -> list[AlertRule]:
    return info.alert_rules


@router.put(
    "/{stream_id}/alert-rules",
    dependencies=[MutationDep],
    response_model=list[AlertRule],
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def put_alert_rules(info: StreamDep, rules: list[AlertRule], registry: RegistryDep) -> list[AlertRule]:
    """Replaces the stream's alert rules while it runs; the worker applies them within a poll interval."""
    if len(rules) > MAX_ALERT_RULES:
        raise HTTPException(status_code=422, detail=f"at most {MAX_ALERT_RULES} alert rules per stream")
    check_rules(rules)
    registry.set_alert_rules(info.id, rules)
    return rules


@router.get(
    "/{stream_id}/preview.jpg",
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": ErrorBody}},
)
def get_preview(info: StreamDep, keyframes: KeyframesDep) -> Response:
    """The latest analysed frame (JPEG, about twice per media second); ``X-Media-Time`` names its frame, whose face
    events carry the same ``pts``: draw their boxes on it."""
    latest = keyframes.latest_jpeg(info.id)
    if latest is None:
        raise HTTPException(status_code=404, detail="no analysed frame yet")
    jpeg, pts = latest
    headers = {"X-Media-Time": repr(pts), "Cache-Control": "no-store"}
    return Response(content=jpeg, media_type="image/jpeg", headers=headers)


@router.get(
    "/{stream_id}/alerts/{alert_id}/frame.jpg",
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": ErrorBody}},
)
def get_alert_frame(
    info: StreamDep,
    keyframes: KeyframesDep,
    alert_id: Annotated[HistoryId, Path(description="the alert's history id")],
) -> Response:
    """The frame that raised an alert (or a suppressed candidate), its subject's face boxed thick: the alert's
    evidence picture. The last 200 alerts of a stream keep theirs."""
    jpeg = keyframes.alert_frame(info.id, alert_id)
    if jpeg is None:
        raise HTTPException(status_code=404, detail="no frame kept for this alert")
    return Response(content=jpeg, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400, immutable"})


@router.get(
    "/{stream_id}/heatmap",
    responses={200: {"content": {"image/png": {}, "application/json": {}}}, 404: {"model": ErrorBody}},
)
async def get_heatmap(
    info: StreamDep,
    history: HistoryDep,
    keyframes: KeyframesDep,
    gallery: GalleryDep,
    kind: Annotated[
        Literal["spatial", "temporal", "saliency"],
        Query(description="where on screen, when, or where on the face the model sees the face"),
    ] = "spatial",
    format: Annotated[Literal["png", "json"], Query()] = "png",
    track: Annotated[int | None, Query(ge=1, le=2**62, description="only this face track")] = None,
    character: Annotated[
        str | None, Query(pattern=CHARACTER_ID, description="only this character (all its tracks, across cuts)")
    ] = None,
    window: Annotated[
        float | None, Query(gt=0, le=86400, description="last N media seconds; default all history")
    ] = None,
    polarity: Annotated[
        str | None, Query(description="spatial PNG: one polarity; default net positive-negative")
    ] = None,
    bin_s: Annotated[float, Query(ge=1, le=600, description="temporal bin length, seconds")] = 5.0,
) -> Response:
    """Spatial heatmap (where faces of each polarity appeared), temporal heatmap (time bins × classes), or
    saliency heatmap (the decoder's mean mask on the average aligned face: dark where faces were covered)."""
    if polarity is not None and polarity not in POLARITIES:
        raise HTTPException(status_code=422, detail=f"polarity must be one of {list(POLARITIES)}")
    if track is not None and character is not None:
        raise HTTPException(status_code=422, detail="ask for one track or one character, not both")
    target = _HeatmapTarget(track, character)
    return await run_in_threadpool(
        _heatmap, info, history, keyframes, gallery, kind, format, target, window, polarity, bin_s
    )


@dataclass(frozen=True)
class _HeatmapTarget:
    track: int | None
    character: str | None


def _heatmap(
    info: StreamInfo,
    history: History,
    keyframes: KeyframeStore,
    gallery: GalleryStore,
    kind: str,
    format: str,
    target: _HeatmapTarget,
    window: float | None,
    polarity: str | None,
    bin_s: float,
) -> Response:
    messages = history.recent(info.id, window)
    frames = wire.observations_from_history(messages)
    title = info.name or f"stream {info.id}"
    track = target.track
    if target.character is not None:
        tracks = wire.character_tracks(messages).get(target.character, set())
        frames = [frame.only(tracks) for frame in frames]
        stored = gallery.get(target.character)  # the gallery's name first: a rename shows at once
        name = stored.name if stored is not None and stored.name else None
        title += f", {name or wire.character_names(messages).get(target.character, target.character)}"
    elif track is not None:
        title += f", face track {track}"
    heatmap: SpatialHeatmap | TemporalHeatmap | SaliencyHeatmap
    if kind == "spatial":
        heatmap = SpatialHeatmap(track_id=track, max_window_s=window or 600.0)
    elif kind == "temporal":
        heatmap = TemporalHeatmap(bin_s)
    else:
        heatmap = SaliencyHeatmap(track_id=track)
    for frame in frames:
        heatmap.add(frame)
    data = heatmap.to_dict(track_id=track) if isinstance(heatmap, TemporalHeatmap) else heatmap.to_dict()
    data["character_id"] = target.character
    if format == "json":
        return Response(content=json.dumps(data, separators=(",", ":")).encode(), media_type="application/json")
    if kind == "temporal":
        return Response(content=render_temporal_png(data, subject=title), media_type="image/png")
    if kind == "saliency":
        return Response(content=render_saliency_png(data, subject=title), media_type="image/png")
    png = render_spatial_png(data, keyframes.get(info.id), polarity, subject=title)
    return Response(content=png, media_type="image/png")
