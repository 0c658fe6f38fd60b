"""``/metrics`` in the Prometheus text format: streams by status, per-stream counters, worker stage timings and
latency histograms.

Everything is read from Redis at scrape time (the registry and the workers' heartbeats), so any API replica
reports the whole deployment.
"""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from service.api.deps import RegistryDep
from service.bus.registry import StreamRegistry
from service.schemas import StreamCounters, StreamStatus

router = APIRouter(tags=["health"])


class _DeploymentCollector:
    def __init__(self, registry: StreamRegistry) -> None:
        self.registry = registry

    def collect(self):
        streams = self.registry.list()
        by_status = GaugeMetricFamily("se_streams", "Registered streams by status", labels=["status"])
        counts = Counter(s.status.value for s in streams)
        for status in StreamStatus:
            by_status.add_metric([status.value], counts.get(status.value, 0))
        yield by_status
        for name, field in StreamCounters.model_fields.items():
            family = CounterMetricFamily(
                f"se_stream_{name}", field.description or name.replace("_", " "), labels=["stream"]
            )
            for stream in streams:
                family.add_metric([stream.id], getattr(stream.counters, name))
            yield family
        rate = GaugeMetricFamily("se_stream_analysis_fps", "Frames analysed per media second now", labels=["stream"])
        for stream in streams:
            if stream.analysis_fps_now is not None:
                rate.add_metric([stream.id], stream.analysis_fps_now)
        yield rate
        workers = self.registry.workers()
        yield GaugeMetricFamily("se_workers", "Workers with a fresh heartbeat", value=len(workers))
        held = GaugeMetricFamily("se_worker_streams", "Streams held by each worker", labels=["worker"])
        seconds = CounterMetricFamily(
            "se_worker_stage_seconds", "Time spent per pipeline stage", labels=["worker", "stage"]
        )
        items = CounterMetricFamily(
            "se_worker_stage_items", "Items through each pipeline stage", labels=["worker", "stage"]
        )
        latency = GaugeMetricFamily(
            "se_worker_latency_ms", "Recent decode-to-publish latency of analysed frames", labels=["worker", "quantile"]
        )
        histogram = HistogramMetricFamily(
            "se_worker_latency_seconds", "Decode-to-publish latency of every analysed frame", labels=["worker"]
        )
        load = GaugeMetricFamily(
            "se_worker_load",
            "How a worker copes: detect_interval_s now, and analysis_rate (1: every stream at its requested rate)",
            labels=["worker", "measure"],
        )
        for worker, info in workers.items():
            held.add_metric([worker], len(info.get("streams", [])))
            for measure, value in info.get("load", {}).items():
                load.add_metric([worker, measure], value)
            for quantile, value in info.get("latency_ms", {}).items():
                latency.add_metric([worker, quantile], value)
            if "latency_histogram" in info:
                buckets, sum_s = _buckets(info["latency_histogram"])
                histogram.add_metric([worker], buckets, sum_value=sum_s)
            for stage, stats in info.get("stages", {}).items():
                seconds.add_metric([worker, stage], stats["total_ms"] / 1000)
                items.add_metric([worker, stage], stats["items"])
        yield from (held, seconds, items, latency, histogram, load)


def _buckets(snapshot: dict) -> tuple[list[tuple[str, int]], float]:
    """A heartbeat's per-bucket latency counts as Prometheus' cumulative ``le`` buckets, in seconds."""
    buckets, total = [], 0
    for bound, count in zip([*snapshot["bounds_ms"], None], snapshot["counts"], strict=True):
        total += count
        buckets.append(("+Inf" if bound is None else f"{bound / 1000:g}", total))
    return buckets, snapshot["sum_ms"] / 1000


@router.get("/metrics", response_class=Response)
def metrics(registry: RegistryDep) -> Response:
    collector_registry = CollectorRegistry()
    collector_registry.register(_DeploymentCollector(registry))
    return Response(generate_latest(collector_registry), media_type=CONTENT_TYPE_LATEST)
