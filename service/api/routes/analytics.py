"""What producers act on: window statistics, alerts and their rules, heatmaps.

Without query parameters ``/stats`` returns the worker's latest tick. With ``window`` or ``track`` it replays
the stream's history through the same pure analytics the worker runs, so any window up to the retained
history can be asked for, live or after the stream ended. Heatmaps are built the same way.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

import cv2
import numpy as np
from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from service.analytics import (
    POLARITIES,
    SlidingWindow,
    SpatialHeatmap,
    TemporalHeatmap,
    render_spatial_png,
    render_temporal_png,
)
from service.api.deps import ApiKeyDep, KeysDep, RedisDep, RegistryDep, SettingsDep, StreamDep
from service.api.history import read_page, recent_messages
from service.schemas import AlertMessage, AlertPage, AlertRuleSpec, ErrorBody, StatsEvent, StreamStatus
from service.timeline import observations_from_history, rule_from_spec
from service.worker.analyzer import stats_message

router = APIRouter(prefix="/streams", tags=["analytics"])
_HISTORY_ID = r"^\d+(-\d+)?$"


class StatsResponse(BaseModel):
    stream_id: str
    status: StreamStatus
    stats: StatsEvent | None  # null until the first analysed frame


def check_rules(rules: list[AlertRuleSpec]) -> None:
    """422 with the analytics' own reason for a rule it cannot evaluate."""
    names = set()
    for rule in rules:
        try:
            built = rule_from_spec(rule)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=f"alert rule {rule.model_dump()}: {exc}") from exc
        if built.name in names:
            raise HTTPException(status_code=422, detail=f"two alert rules are both named {built.name!r}")
        names.add(built.name)


@router.get("/{stream_id}/stats", response_model=StatsResponse, responses={404: {"model": ErrorBody}})
def get_stats(
    info: StreamDep,
    registry: RegistryDep,
    client: RedisDep,
    keys: KeysDep,
    settings: SettingsDep,
    window: Annotated[
        float | None, Query(gt=0, le=3600, description="window length, media seconds (default: the service's)")
    ] = None,
    track: Annotated[int | None, Query(ge=1, description="only this face track")] = None,
) -> StatsResponse:
    """Window statistics: positive / negative / neutral shares over face-frames, valence, arousal, dominant emotion."""
    if window is None and track is None:
        latest = registry.latest_stats(info.id)
        return StatsResponse(stream_id=info.id, status=info.status, stats=StatsEvent(**latest) if latest else None)
    window_s = window or settings.window_s
    frames = observations_from_history(recent_messages(client, keys, info.id, window_s))
    if not frames:
        return StatsResponse(stream_id=info.id, status=info.status, stats=None)
    sliding = SlidingWindow(window_s)
    for frame in frames:
        sliding.add(frame)
    stats = sliding.stats(track_id=track)
    return StatsResponse(
        stream_id=info.id, status=info.status, stats=StatsEvent(**stats_message(info.id, frames[-1].pts, stats))
    )


@router.get("/{stream_id}/alerts", response_model=AlertPage, responses={404: {"model": ErrorBody}})
def get_alerts(
    info: StreamDep,
    client: RedisDep,
    keys: KeysDep,
    registry: RegistryDep,
    since: Annotated[str | None, Query(pattern=_HISTORY_ID, description="alert history id; alerts after it")] = None,
    kind: Annotated[
        Literal["alert", "suppressed", "all"], Query(description="verified alerts, suppressed candidates, or both")
    ] = "alert",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertPage:
    """Alerts from the durable per-stream alert history, oldest first, each with its window in media seconds."""
    messages, cursor = read_page(
        client, keys.alerts(info.id), since, limit, keep=lambda m: kind == "all" or m["kind"] == kind
    )
    return AlertPage(
        alerts=[AlertMessage(**m) for m in messages], next=cursor, suppressed_counts=registry.suppressed_counts(info.id)
    )


@router.get("/{stream_id}/alert-rules", response_model=list[AlertRuleSpec], responses={404: {"model": ErrorBody}})
def get_alert_rules(info: StreamDep) -> list[AlertRuleSpec]:
    return info.alert_rules


@router.put(
    "/{stream_id}/alert-rules",
    dependencies=[ApiKeyDep],
    response_model=list[AlertRuleSpec],
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def put_alert_rules(info: StreamDep, rules: list[AlertRuleSpec], registry: RegistryDep) -> list[AlertRuleSpec]:
    """Replaces the stream's alert rules while it runs; the worker applies them within a poll interval."""
    if len(rules) > 20:
        raise HTTPException(status_code=422, detail="at most 20 alert rules per stream")
    check_rules(rules)
    registry.set_alert_rules(info.id, rules)
    return rules


@router.get(
    "/{stream_id}/heatmap",
    responses={200: {"content": {"image/png": {}, "application/json": {}}}, 404: {"model": ErrorBody}},
)
async def get_heatmap(
    info: StreamDep,
    client: RedisDep,
    keys: KeysDep,
    registry: RegistryDep,
    kind: Annotated[Literal["spatial", "temporal"], Query(description="where on screen, or when")] = "spatial",
    format: Annotated[Literal["png", "json"], Query()] = "png",
    track: Annotated[int | None, Query(ge=1, description="only this face track")] = None,
    window: Annotated[
        float | None, Query(gt=0, le=86400, description="last N media seconds; default all history")
    ] = None,
    polarity: Annotated[
        str | None, Query(description="spatial PNG: one polarity; default net positive-negative")
    ] = None,
    bin_s: Annotated[float, Query(ge=1, le=600, description="temporal bin length, seconds")] = 5.0,
) -> Response:
    """Spatial heatmap (where faces of each polarity appeared) or temporal heatmap (time bins × classes)."""
    if polarity is not None and polarity not in POLARITIES:
        raise HTTPException(status_code=422, detail=f"polarity must be one of {list(POLARITIES)}")
    return await run_in_threadpool(
        _heatmap, info.id, client, keys, registry, kind, format, track, window, polarity, bin_s
    )


def _heatmap(
    stream_id: str,
    client,
    keys,
    registry,
    kind: str,
    format: str,
    track: int | None,
    window: float | None,
    polarity: str | None,
    bin_s: float,
) -> Response:
    frames = observations_from_history(recent_messages(client, keys, stream_id, window))
    heatmap = (
        SpatialHeatmap(track_id=track, max_window_s=window or 600.0) if kind == "spatial" else TemporalHeatmap(bin_s)
    )
    for frame in frames:
        heatmap.add(frame)
    data = heatmap.to_dict() if kind == "spatial" else heatmap.to_dict(track_id=track)
    if format == "json":
        return Response(content=_json(data), media_type="application/json")
    title = f"stream {stream_id}" + (f", track {track}" if track else "")
    if kind == "temporal":
        return Response(content=render_temporal_png(data, title=title), media_type="image/png")
    jpeg = registry.keyframe(stream_id)
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) if jpeg else None
    keyframe = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB) if decoded is not None else None
    return Response(content=render_spatial_png(data, keyframe, polarity, title=title), media_type="image/png")


def _json(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()
