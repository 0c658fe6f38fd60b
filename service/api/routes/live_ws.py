"""``WS /ws/streams/{id}``: live face events, stats ticks, status changes, alerts and characters of one stream.

Opened without ``since``, the socket first sends one bounded ``snapshot`` (status, latest stats, the last
alerts, the characters seen), then live messages: a new viewer never replays the whole history. Resume
without loss: reconnect with ``?since=<last id seen>`` (the snapshot's ``id`` counts). The server subscribes
to live messages first, then replays history after ``since`` from the Redis Stream in pages, then forwards
live messages newer than the last replayed one, so nothing falls in the gap between history and live. A
client that falls behind live (its bounded queue overflows) is caught up from history the same way. One
catch-up sends at most ``ws_max_replay`` messages; a client further behind is closed with 4408 and reads
the rest with ``GET /streams/{id}/events`` (a browser reconnects without ``since`` for a fresh snapshot).
A ``since`` newer than the history means "from now".

Close codes: 4400 bad ``since``, 4401 missing or wrong token, 4404 no such stream, 4408 too far behind.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import State

from service.api.deps import key_matches
from service.api.live import LiveHub, entry_id_key
from service.api.routes.characters import characters_of_stream
from service.bus.history import last_entry_id, replay_page
from service.bus.registry import stream_exists
from service.schemas import STREAM_ID, AlertMessage, SnapshotEvent, StatsEvent, check_history_id

router = APIRouter(tags=["live"])
_REPLAY_PAGE = 500


class _TooFarBehind(Exception):
    pass


@router.websocket("/ws/streams/{stream_id}")
async def stream_live(websocket: WebSocket, stream_id: str, since: str | None = None, token: str | None = None) -> None:
    app = websocket.app
    keys, client, hub = app.state.keys, app.state.aredis, app.state.hub
    await websocket.accept()
    if not key_matches(app.state.settings, token):
        await websocket.close(code=4401, reason="missing or wrong token")
        return
    try:
        since = check_history_id(since) if since is not None else None
    except ValueError:
        await websocket.close(code=4400, reason="since must be a history id such as 1700000000000-0")
        return
    if not STREAM_ID.match(stream_id) or not await stream_exists(client, keys, stream_id):
        await websocket.close(code=4404, reason="no such stream")
        return
    hub_: LiveHub = hub
    sub = hub_.subscribe(stream_id)
    receiver = asyncio.create_task(_drain_client(websocket))
    try:
        head = await last_entry_id(client, keys, stream_id)  # read after subscribing: nothing newer is missed
        if since is None:
            snapshot = await run_in_threadpool(_snapshot, app.state, stream_id, head)
            await websocket.send_text(snapshot.model_dump_json())
            last = head
        elif head is None or entry_id_key(since) > entry_id_key(head):
            last = head  # a future id: live from now
        else:
            last = since
        await _serve(websocket, client, keys, stream_id, sub, receiver, last, app.state.settings.ws_max_replay)
    except _TooFarBehind:
        await websocket.close(code=4408, reason="too far behind: page GET /streams/{id}/events, then reconnect")
    except WebSocketDisconnect:
        pass
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await receiver
        hub_.unsubscribe(sub)


async def _serve(websocket: WebSocket, client, keys, stream_id: str, sub, receiver, last: str | None, budget: int):
    while not receiver.done():
        sub.reset()  # anything dropped from here on is still in history, and the replay below sends it
        last = await _replay(websocket, client, keys, stream_id, last, budget)
        floor = entry_id_key(last) if last else (0, 0)
        while not receiver.done() and not sub.overflowed:
            try:
                first = await asyncio.wait_for(sub.queue.get(), timeout=1.0)
            except TimeoutError:
                continue
            batch = [first]  # a frame's messages arrive together: one wake-up sends them all
            while not sub.queue.empty():
                batch.append(sub.queue.get_nowait())
            for entry_id, text in batch:
                if sub.overflowed:
                    break  # the queue dropped messages, so what it holds has gaps: history has them all, in order
                if entry_id_key(entry_id) <= floor:
                    continue  # already sent from history
                await websocket.send_text(text)
                last, floor = entry_id, entry_id_key(entry_id)
        # overflowed: the client fell behind live; catch it up from history, then go live again


async def _replay(websocket: WebSocket, client, keys, stream_id: str, after: str | None, budget: int) -> str | None:
    """Sends the history after ``after`` in pages; returns the id of the last one sent (or ``after``).
    Raises ``_TooFarBehind`` once more than ``budget`` messages would be needed."""
    last, sent = after, 0
    while True:
        page = await replay_page(client, keys, stream_id, last, _REPLAY_PAGE)
        if sent + len(page) > budget:
            raise _TooFarBehind
        for entry_id, text in page:
            await websocket.send_text(text)
            last = entry_id
        sent += len(page)
        if len(page) < _REPLAY_PAGE:
            return last


def _snapshot(state: State, stream_id: str, head: str | None) -> SnapshotEvent:
    """Status, latest stats, the last alerts up to ``head`` and the characters seen: bounded, whatever the history."""
    info = state.registry.get(stream_id)
    stats = state.registry.latest_stats(stream_id)
    count = state.settings.ws_snapshot_alerts
    alerts = state.history.latest_alerts(stream_id, head, count) if head and count else []
    return SnapshotEvent(
        id=head,
        stream_id=stream_id,
        status=info.status,
        reason=info.reason,
        media_time=info.media_time,
        stats=StatsEvent(**stats) if stats else None,
        alerts=[AlertMessage(**alert) for alert in alerts],
        characters=characters_of_stream(stream_id, state.gallery),
    )


async def _drain_client(websocket: WebSocket) -> None:
    """Reads (and ignores) client frames so a disconnect is noticed promptly."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
