"""REST resource ``/streams``: register, list, inspect, stop streams; read their stats and history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from service.analytics import DEFAULT_RULES
from service.api.deps import (
    GalleryDep,
    HistoryDep,
    MutationDep,
    PublisherDep,
    RegistryDep,
    SettingsDep,
    StreamDep,
    publish_status,
)
from service.api.routes.analytics import check_rules
from service.ingest.urls import InvalidSourceError, SourcePolicy, parse_source, redact_url
from service.schemas import (
    CHARACTER_ID,
    TERMINAL_STATUSES,
    ErrorBody,
    EventPage,
    HistoryId,
    StreamCreate,
    StreamInfo,
    StreamList,
    StreamStatus,
)

router = APIRouter(prefix="/streams", tags=["streams"])


def _with_links(info: StreamInfo, place: int | None = None) -> StreamInfo:
    """The record as callers see it: links added, credentials in the URL redacted (kept for the worker only),
    and a queued stream's place in line (1: next to start)."""
    info.url = redact_url(info.url)
    if info.status == StreamStatus.QUEUED and place is not None:
        info.reason = f"{info.reason or 'waiting for an analysis slot'}; place {place} in the queue"
    base = f"/streams/{info.id}"
    info.links = {
        "self": base,
        "stats": f"{base}/stats",
        "events": f"{base}/events",
        "alerts": f"{base}/alerts",
        "alert_rules": f"{base}/alert-rules",
        "heatmap": f"{base}/heatmap",
        "live": f"/ws/streams/{info.id}",
    }
    return info


def _places(streams: list[StreamInfo]) -> dict[str, int]:
    """Each queued stream's place: first come, first served (the order workers claim them in)."""
    queued = sorted((s for s in streams if s.status == StreamStatus.QUEUED), key=lambda s: s.created_at)
    return {s.id: place for place, s in enumerate(queued, start=1)}


@router.post(
    "",
    dependencies=[MutationDep],
    status_code=status.HTTP_201_CREATED,
    response_model=StreamInfo,
    responses={
        422: {"model": ErrorBody, "description": "invalid body or URL"},
        429: {"model": ErrorBody, "description": "too many changes from this client, or too many streams"},
    },
)
def create_stream(
    body: StreamCreate, registry: RegistryDep, settings: SettingsDep, publisher: PublisherDep
) -> StreamInfo:
    """Registers a stream; a worker claims it and starts analysis within about a second."""
    try:
        spec = parse_source(body.url, SourcePolicy.of(settings))
    except InvalidSourceError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    fps = body.analysis_fps or settings.default_analysis_fps
    if fps > settings.max_analysis_fps:
        raise HTTPException(
            status_code=422, detail=f"analysis_fps {fps} exceeds the maximum {settings.max_analysis_fps}"
        )
    if (body.loop or body.realtime) and spec.live:
        raise HTTPException(status_code=422, detail="loop and realtime apply to files, not to live sources")
    rules = list(DEFAULT_RULES) if body.alert_rules is None else body.alert_rules
    check_rules(rules)
    active = [s for s in registry.list() if s.status not in TERMINAL_STATUSES]
    if len(active) >= settings.max_streams:
        raise HTTPException(
            status_code=429,
            detail=f"this service runs at most {settings.max_streams} streams at once; stop one or try later",
            headers={"Retry-After": "30"},
        )
    capacity = registry.capacity()
    busy = sum(s.status != StreamStatus.QUEUED for s in active)
    status, reason = StreamStatus.STARTING, None
    if busy >= capacity or any(s.status == StreamStatus.QUEUED for s in active):
        status = StreamStatus.QUEUED
        reason = f"all {capacity} analysis slots are busy" if capacity else "no worker is running"
    info = registry.create(spec.url, body.name, fps, body.realtime, body.loop, rules, status, reason)
    publish_status(publisher, info.id, status, reason)
    return _with_links(info, _places([*active, info]).get(info.id))


@router.get("", response_model=StreamList)
def list_streams(registry: RegistryDep) -> StreamList:
    streams = registry.list()
    places = _places(streams)
    return StreamList(streams=[_with_links(info, places.get(info.id)) for info in streams])


@router.get("/{stream_id}", response_model=StreamInfo, responses={404: {"model": ErrorBody}})
def get_stream(info: StreamDep, registry: RegistryDep) -> StreamInfo:
    places = _places(registry.list()) if info.status == StreamStatus.QUEUED else {}
    return _with_links(info, places.get(info.id))


@router.delete(
    "/{stream_id}",
    dependencies=[MutationDep],
    response_model=StreamInfo,
    responses={404: {"model": ErrorBody}, 204: {"description": "purged"}},
)
def stop_stream(
    info: StreamDep,
    registry: RegistryDep,
    settings: SettingsDep,
    publisher: PublisherDep,
    gallery: GalleryDep,
    purge: Annotated[
        bool, Query(description="also delete its history and the embeddings of its unnamed discovered characters")
    ] = False,
):
    """Stops analysis (the worker publishes a final ``stopped`` status). ``purge=true`` also deletes history, once
    the worker has stopped (at most a lease period): nothing it writes afterwards can bring keys back."""
    registry.request_stop(info.id)
    if info.status not in TERMINAL_STATUSES and not registry.is_leased(info.id):
        # no worker holds it: nobody else will mark it stopped
        registry.set_status(info.id, StreamStatus.STOPPED, "stopped by request")
        publish_status(publisher, info.id, StreamStatus.STOPPED, "stopped by request")
    if purge:
        registry.wait_released(info.id, settings.lease_ttl_s + 1.0)  # expired by then even if its worker died
        registry.purge(info.id)
        gallery.purge_stream(info.id)  # its discovered, unnamed characters and their embeddings
        return Response(status_code=204)
    current = registry.get(info.id)
    assert current is not None
    return _with_links(current)


@router.get(
    "/{stream_id}/events", response_model=EventPage, responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
)
def get_events(
    info: StreamDep,
    history: HistoryDep,
    since: Annotated[HistoryId | None, Query(description="history id; events after it")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    type: Annotated[
        str | None,
        Query(pattern="^(face|frame|stats|status|alert|character)$", description="only this message type"),
    ] = None,
    character: Annotated[
        str | None, Query(pattern=CHARACTER_ID, description="only messages about this character")
    ] = None,
) -> EventPage:
    """History from the stream's Redis Stream, oldest first, paged with the ``next`` cursor."""

    def keep(message: dict) -> bool:
        if type is not None and message.get("type") != type:
            return False
        return character is None or message.get("character_id") == character

    messages, cursor = history.events(info.id, since, limit, keep=keep)
    return EventPage(events=messages, next=cursor)
