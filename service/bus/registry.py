"""The stream registry in Redis: stream records, status, counters, stop requests and worker leases.

A stream is a hash plus membership in the streams set. A worker analyses a stream only while it holds the
stream's lease (``SET NX PX``, renewed by compare-and-set); a worker that dies stops renewing, the lease
expires, and another worker claims the stream. This is how analysis scales over machines.
"""

from __future__ import annotations

import json
import time
import uuid

import redis
import redis.asyncio as aioredis
from pydantic import TypeAdapter

from service.analytics import AlertRule
from service.bus.keys import Keys
from service.schemas import TERMINAL_STATUSES, StreamCounters, StreamInfo, StreamStatus

_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
# Writes to a stream's record only while it exists: a purged stream is never brought back half-made by a
# late update (its GET would then fail on the missing fields).
_UPDATE = "if redis.call('exists', KEYS[1]) == 0 then return 0 end redis.call('hset', KEYS[1], unpack(ARGV)) return 1"
_COUNTERS = tuple(StreamCounters.model_fields)
_RULES = TypeAdapter(list[AlertRule])


class StreamRegistry:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._update_script = client.register_script(_UPDATE)

    def _update(self, stream_id: str, fields: dict) -> None:
        self._update_script(keys=[self.keys.stream(stream_id)], args=[x for kv in fields.items() for x in kv])

    # records
    def create(
        self,
        url: str,
        name: str | None,
        analysis_fps: float,
        realtime: bool,
        loop: bool,
        alert_rules: list[AlertRule] | None = None,
        status: StreamStatus = StreamStatus.STARTING,
        reason: str | None = None,
    ) -> StreamInfo:
        stream_id = uuid.uuid4().hex[:12]
        now = time.time()
        record = {
            "id": stream_id,
            "url": url,
            "name": name or "",
            "analysis_fps": analysis_fps,
            "realtime": int(realtime),
            "loop": int(loop),
            "status": status.value,
            "reason": reason or "",
            "desired": "run",
            "created_at": now,
            "updated_at": now,
            "alert_rules": _rules_json(alert_rules or []),
            "rules_version": 1,
        }
        pipe = self.client.pipeline()
        pipe.hset(self.keys.stream(stream_id), mapping=record)
        pipe.sadd(self.keys.streams, stream_id)
        pipe.execute()
        info = self.get(stream_id)
        assert info is not None
        return info

    def get(self, stream_id: str) -> StreamInfo | None:
        return _to_info(self.client.hgetall(self.keys.stream(stream_id)))

    def list(self) -> list[StreamInfo]:
        ids = sorted(self.client.smembers(self.keys.streams))
        pipe = self.client.pipeline(transaction=False)
        for stream_id in ids:
            pipe.hgetall(self.keys.stream(stream_id))
        infos = [_to_info(record) for record in pipe.execute()]
        return sorted((i for i in infos if i is not None), key=lambda i: i.created_at)

    def control(self, stream_id: str) -> tuple[str | None, int]:
        """What a worker polls: the desired state (``run``/``stop``, None once purged) and the rules version."""
        desired, version = self.client.hmget(self.keys.stream(stream_id), "desired", "rules_version")
        return desired, int(version or 0)

    def set_status(
        self, stream_id: str, status: StreamStatus, reason: str | None = None, worker: str | None = None
    ) -> None:
        fields = {"status": status.value, "reason": reason or "", "updated_at": time.time()}
        if worker is not None:
            fields["worker"] = worker
        self._update(stream_id, fields)

    def update_progress(
        self, stream_id: str, counters: dict[str, int], media_time: float | None, fps_now: float | None = None
    ) -> None:
        fields: dict = {f"c:{k}": v for k, v in counters.items() if k in _COUNTERS}
        fields["updated_at"] = time.time()
        if fps_now is not None:
            fields["fps_now"] = round(fps_now, 3)
        if media_time is not None:
            fields["media_time"] = round(media_time, 3)
        self._update(stream_id, fields)

    def set_alert_rules(self, stream_id: str, rules: list[AlertRule]) -> None:
        """Replaces the rules; the worker applies them at its next poll (``rules_version`` changes)."""
        pipe = self.client.pipeline()
        pipe.hset(self.keys.stream(stream_id), "alert_rules", _rules_json(rules))
        pipe.hincrby(self.keys.stream(stream_id), "rules_version", 1)
        pipe.execute()

    def set_suppressed_counts(self, stream_id: str, counts: dict[str, int]) -> None:
        self._update(stream_id, {"suppressed_counts": json.dumps(counts)})

    def suppressed_counts(self, stream_id: str) -> dict[str, int]:
        raw = self.client.hget(self.keys.stream(stream_id), "suppressed_counts")
        return json.loads(raw) if raw else {}

    def set_latest_stats(self, stream_id: str, encoded: str) -> None:
        """The whole-stream stats message of the latest tick, as the worker encoded it."""
        self._update(stream_id, {"stats": encoded})

    def latest_stats(self, stream_id: str) -> dict | None:
        raw = self.client.hget(self.keys.stream(stream_id), "stats")
        return json.loads(raw) if raw else None

    def request_stop(self, stream_id: str) -> None:
        self._update(stream_id, {"desired": "stop"})

    def resume(self, stream_id: str) -> None:
        """Asks for a stopped or ended stream to run again (a worker claims it and continues its history)."""
        self._update(stream_id, {"desired": "run", "status": StreamStatus.STARTING.value, "reason": ""})

    def wait_released(self, stream_id: str, timeout_s: float) -> bool:
        """Waits until no worker holds the stream (it stopped, or its lease expired); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.is_leased(stream_id):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def purge(self, stream_id: str) -> None:
        """Removes the stream and its history (used by ``DELETE ?purge=true`` once it has stopped)."""
        self.client.delete(
            self.keys.stream(stream_id),
            self.keys.events(stream_id),
            self.keys.alerts(stream_id),
            self.keys.keyframe(stream_id),
            self.keys.keyframe_pts(stream_id),
            self.keys.alert_frames(stream_id),
        )
        self.client.srem(self.keys.streams, stream_id)

    # leases
    def is_leased(self, stream_id: str) -> bool:
        """True while a worker holds the stream."""
        return bool(self.client.exists(self.keys.lease(stream_id)))

    def claimable(self) -> list[str]:
        """Streams that should run and that no worker holds, oldest first (the queue is first come, first served)."""
        ids = list(self.client.smembers(self.keys.streams))
        pipe = self.client.pipeline(transaction=False)
        for stream_id in ids:
            pipe.hmget(self.keys.stream(stream_id), "desired", "status", "created_at")
            pipe.exists(self.keys.lease(stream_id))
        results = pipe.execute()
        out = []
        for index, stream_id in enumerate(ids):
            (desired, status, created), leased = results[2 * index], results[2 * index + 1]
            if desired == "run" and status and StreamStatus(status) not in TERMINAL_STATUSES and not leased:
                out.append((float(created or 0), stream_id))
        return [stream_id for _, stream_id in sorted(out)]

    def capacity(self) -> int:
        """Streams the live workers can hold together (from their heartbeats)."""
        return sum(int(info.get("capacity", 0)) for info in self.workers().values())

    def claim(self, stream_id: str, worker: str, ttl_s: float) -> bool:
        return bool(self.client.set(self.keys.lease(stream_id), worker, nx=True, px=int(ttl_s * 1000)))

    def renew(self, stream_id: str, worker: str, ttl_s: float) -> bool:
        return bool(self._renew(keys=[self.keys.lease(stream_id)], args=[worker, int(ttl_s * 1000)]))

    def release(self, stream_id: str, worker: str) -> None:
        self._release(keys=[self.keys.lease(stream_id)], args=[worker])

    # worker heartbeats
    def heartbeat(self, worker: str, info: dict, ttl_s: float) -> None:
        self.client.set(self.keys.worker(worker), json.dumps(info), px=int(ttl_s * 1000))

    def workers(self, host: str = "*") -> dict[str, dict]:
        keys = list(self.client.scan_iter(self.keys.worker_pattern(host), count=100))
        values = self.client.mget(keys) if keys else []
        prefix = self.keys.worker("")
        return {k.removeprefix(prefix): json.loads(v) for k, v in zip(keys, values, strict=True) if v}


async def stream_exists(client: aioredis.Redis, keys: Keys, stream_id: str) -> bool:
    """For the API's async WebSocket handler, which has no sync registry to ask."""
    return bool(await client.exists(keys.stream(stream_id)))


def _to_info(record: dict[str, str]) -> StreamInfo | None:
    """The record as a StreamInfo; None when absent or incomplete (never an exception for a reader)."""
    if not record or not {"id", "url", "status", "analysis_fps", "created_at", "updated_at"} <= record.keys():
        return None
    counters = {k: int(record.get(f"c:{k}", 0)) for k in _COUNTERS}
    return StreamInfo(
        id=record["id"],
        url=record["url"],
        name=record.get("name") or None,
        analysis_fps=float(record["analysis_fps"]),
        realtime=record.get("realtime") == "1",
        loop=record.get("loop") == "1",
        status=StreamStatus(record["status"]),
        reason=record.get("reason") or None,
        worker=record.get("worker") or None,
        created_at=float(record["created_at"]),
        updated_at=float(record["updated_at"]),
        media_time=float(record["media_time"]) if record.get("media_time") else None,
        analysis_fps_now=float(record["fps_now"]) if record.get("fps_now") else None,
        counters=StreamCounters(**counters),
        alert_rules=_RULES.validate_json(record.get("alert_rules") or "[]"),
    )


def _rules_json(rules: list[AlertRule]) -> str:
    return _RULES.dump_json(list(rules)).decode()
