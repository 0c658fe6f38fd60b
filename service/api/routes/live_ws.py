"""``WS /ws/streams/{id}``: live face events, stats ticks, status changes (and alerts) of one stream.

Resume without loss: connect with ``?since=<last id seen>``. The server subscribes to live messages first,
then replays history after ``since`` from the Redis Stream, then forwards live messages newer than the
last replayed one, so nothing falls in the gap between history and live. A client that falls behind live
(its bounded queue overflows) is caught up from history the same way instead of being dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from service.api.deps import key_matches
from service.api.live import LiveHub, entry_id_key
from service.bus.history import replay_page
from service.bus.registry import stream_exists

router = APIRouter(tags=["live"])
_ID = re.compile(r"^\d+(-\d+)?$")
_REPLAY_PAGE = 500


@router.websocket("/ws/streams/{stream_id}")
async def stream_live(websocket: WebSocket, stream_id: str, since: str | None = None, token: str | None = None) -> None:
    app = websocket.app
    keys, client, hub = app.state.keys, app.state.aredis, app.state.hub
    await websocket.accept()
    if not key_matches(app.state.settings, token):
        await websocket.close(code=4401, reason="missing or wrong token")
        return
    if since is not None and not _ID.match(since):
        await websocket.close(code=4400, reason="since must be a history id such as 1700000000000-0")
        return
    if not await stream_exists(client, keys, stream_id):
        await websocket.close(code=4404, reason=f"no stream {stream_id!r}")
        return
    hub_: LiveHub = hub
    sub = hub_.subscribe(stream_id)
    receiver = asyncio.create_task(_drain_client(websocket))
    last = since
    try:
        while not receiver.done():
            sub.reset()  # anything dropped from here on is still in history, and the replay below sends it
            last = await _replay(websocket, client, keys, stream_id, last)
            floor = entry_id_key(last) if last else (0, 0)
            while not receiver.done() and not sub.overflowed:
                try:
                    entry_id, text = await asyncio.wait_for(sub.queue.get(), timeout=1.0)
                except TimeoutError:
                    continue
                if entry_id_key(entry_id) <= floor:
                    continue  # already sent from history
                await websocket.send_text(text)
                last, floor = entry_id, entry_id_key(entry_id)
            # overflowed: the client fell behind live; catch it up from history, then go live again
    except WebSocketDisconnect:
        pass
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await receiver
        hub_.unsubscribe(sub)


async def _replay(websocket: WebSocket, client, keys, stream_id: str, after: str | None) -> str | None:
    """Sends every history message after ``after``; returns the id of the last one sent (or ``after``)."""
    last = after
    while True:
        page = await replay_page(client, keys, stream_id, last, _REPLAY_PAGE)
        for entry_id, text in page:
            await websocket.send_text(text)
            last = entry_id
        if len(page) < _REPLAY_PAGE:
            return last


async def _drain_client(websocket: WebSocket) -> None:
    """Reads (and ignores) client frames so a disconnect is noticed promptly."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
