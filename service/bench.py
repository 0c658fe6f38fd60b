"""``python -m service bench``: the whole pipeline on a clip, with throughput and per-stage latency, against the
naive loop measured in the same run.

The naive loop is the simplest peer: MTCNN on every analysed frame and the per-frame network on every face,
no following, no temporal head, no identity, no publishing. Every speed claim is the ratio of the two.

Stages: decode (PyAV decode + sampling + conversion of sampled frames), cut (shot cuts), detect (full
MTCNN), refine (O-net following), track (IoU tracker), align, infer (emotion backbone and heads), occlusion
(the saliency decoder on the faces due), identity (quality gate, chips, the descriptor on the faces due),
temporal (the temporal head over each track's cached window, and the label hold), analytics (windows,
alerts, messages), publish (Redis XADD + PUBLISH), plus the per-face network's cost per face at batch 8, the
identity descriptor's per face, and the latency from a frame leaving the decoder to its publication.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from service.bus.connection import connect
from service.bus.keys import Keys
from service.bus.publisher import Publisher
from service.commands import DEMO_CLIP
from service.config import Settings
from service.emotion.classifier import EmotionClassifier
from service.identity.embedder import CHIP_SIZE, FaceEmbedder
from service.ingest.frames import VideoFrame
from service.ingest.source import VideoSource, source_options
from service.ingest.urls import SourcePolicy, SourceSpec, parse_source
from service.pipeline.analysis import analyse, new_stream_state
from service.pipeline.faces import FacePipeline
from service.runtime import build_pipeline
from service.worker.timing import StageTimer

STAGES = (
    "decode",
    "cut",
    "detect",
    "refine",
    "track",
    "align",
    "infer",
    "occlusion",
    "identity",
    "temporal",
    "analytics",
    "publish",
)


def _network_ms_per_face(classifier: EmotionClassifier, batch: int = 8, rounds: int = 20) -> float:
    """The per-face network (backbone and heads, through ``infer``) on a batch of random crops."""
    size = classifier.input_size
    shape = (size, size) if classifier.grey else (size, size, 3)
    crops = [np.random.default_rng(i).integers(0, 255, shape, dtype=np.uint8) for i in range(batch)]
    for _ in range(3):
        classifier.infer(crops)
    if classifier.device.type == "cuda":
        torch.cuda.synchronize()
    began = time.perf_counter()
    for _ in range(rounds):
        classifier.infer(crops)
    if classifier.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - began) * 1000 / (rounds * batch)


def _decoder_ms_per_face(pipeline: FacePipeline, rounds: int = 20) -> float | None:
    """The saliency decoder and the occlusion score for one face (what a track costs twice a second)."""
    if pipeline.occlusion is None:
        return None
    crop = np.random.default_rng(0).integers(0, 255, (pipeline.classifier.input_size,) * 2, dtype=np.uint8)
    levels = pipeline.classifier.infer([crop]).levels
    pipeline.occlusion.score(levels, [0])
    began = time.perf_counter()
    for _ in range(rounds):
        pipeline.occlusion.score(levels, [0])
    return (time.perf_counter() - began) * 1000 / rounds


def _embedder_ms_per_face(embedder: FaceEmbedder, batch: int = 4, rounds: int = 3) -> float:
    """The identity descriptor (dlib's ResNet in PyTorch) on a batch of chips: what one embedding of a track costs."""
    chips = [np.random.default_rng(i).integers(0, 255, (CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8) for i in range(batch)]
    embedder.embed(chips[:1])
    began = time.perf_counter()
    for _ in range(rounds):
        embedder.embed(chips)
    return (time.perf_counter() - began) * 1000 / (rounds * batch)


def _played(spec: SourceSpec, settings: Settings, fps: float, repeat: int) -> Iterator[VideoFrame]:
    """The clip ``repeat`` times over as one looping stream (media time going on, as a live stream's would), so
    tracks and characters carry on between passes the way they do in a long programme."""
    one_pass = sum(1 for _ in VideoSource(spec, source_options(settings, fps), threading.Event()).frames())
    stop = threading.Event()
    for n, frame in enumerate(VideoSource(spec, source_options(settings, fps, loop=True), stop).frames()):
        if n == one_pass * repeat:
            stop.set()
            return
        yield frame


def _naive_loop(pipeline: FacePipeline, frames_in: Iterator[VideoFrame]) -> dict:
    """Frames/s of MTCNN plus the per-frame network on every frame (the baseline of every ratio)."""
    frames = faces = 0
    began = time.perf_counter()
    for frame in frames_in:
        detections = pipeline.detector.detect([frame.image])[0]
        crops = [pipeline.classifier.crop(frame.image, detection.landmarks) for detection in detections]
        if crops:
            pipeline.classifier.infer(crops)
        frames += 1
        faces += len(detections)
    return {"frames": frames, "faces": faces, "frames_per_s": round(frames / (time.perf_counter() - began), 2)}


def run_bench(settings: Settings, clip: str | None, fps: float, repeat: int, as_json: bool) -> dict:
    path = Path(clip) if clip else DEMO_CLIP
    spec = parse_source(str(path), SourcePolicy.operator())
    timer = StageTimer()
    pipeline = build_pipeline(settings, timer)
    naive = _naive_loop(pipeline, _played(spec, settings, fps, repeat))
    target = connect(settings)
    publisher = Publisher(target.client(), Keys(f"{settings.key_prefix}-bench"), settings.events_maxlen)
    latencies: list[float] = []
    frames = faces = 0
    began = time.perf_counter()
    state = new_stream_state(settings, pipeline, "bench")
    iterator = _played(spec, settings, fps, repeat)
    while True:
        with timer.stage("decode"):
            frame = next(iterator, None)
        if frame is None:
            break
        messages = analyse(pipeline, [(state, frame)])[0].messages
        with timer.stage("publish", items=len(messages)):
            publisher.emit("bench", messages)
        latencies.append((time.monotonic() - frame.decoded_at) * 1000)
        frames += 1
        faces += sum(m.type == "face" for m in messages)
    elapsed = time.perf_counter() - began
    target.client().delete(publisher.keys.events("bench"))
    result = {
        "clip": path.name,
        "device": str(pipeline.classifier.device),
        "precision": pipeline.classifier.precision,
        "analysis_fps": fps,
        "detect_interval_s": pipeline.detect_interval_s,
        "frames": frames,
        "faces": faces,
        "frames_per_s": round(frames / elapsed, 2),
        "naive": naive,
        "times_naive": round(frames / elapsed / naive["frames_per_s"], 2) if naive["frames_per_s"] else None,
        "latency_ms": {
            "p50": round(float(np.percentile(latencies, 50)), 1),
            "p95": round(float(np.percentile(latencies, 95)), 1),
        }
        if latencies
        else None,
        "stages": timer.summary(),
        "network_ms_per_face_batch8": round(_network_ms_per_face(pipeline.classifier), 3),
        "decoder_ms_per_face": None if (ms := _decoder_ms_per_face(pipeline)) is None else round(ms, 2),
        "identity_ms_per_face": round(_embedder_ms_per_face(pipeline.identity.embedder), 1)
        if pipeline.identity
        else None,
    }
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        latency = result["latency_ms"] or {"p50": "-", "p95": "-"}
        print(
            f"clip {result['clip']} on {result['device']} ({result['precision']}): {frames} frames ({faces} faces) "
            f"at analysis fps {fps}, {result['frames_per_s']} frames/s end to end; latency decode->published "
            f"p50 {latency['p50']} ms, p95 {latency['p95']} ms"
        )
        print(
            f"naive loop (MTCNN + per-frame network on every frame), same run: {naive['frames_per_s']} frames/s; "
            f"the service is {result['times_naive']}x that (full detection every {pipeline.detect_interval_s:g} "
            "media s, O-net following between)"
        )
        print(f"{'stage':<10} {'calls':>6} {'items':>6} {'ms/call':>9} {'ms/item':>9}")
        for name in STAGES:
            s = result["stages"].get(name)
            if s:
                print(f"{name:<10} {s['calls']:>6} {s['items']:>6} {s['ms_per_call']:>9.2f} {s['ms_per_item']:>9.2f}")
        print(f"per-face network at batch 8: {result['network_ms_per_face_batch8']:.2f} ms per face")
        if result["decoder_ms_per_face"] is not None:
            print(
                f"saliency decoder + occlusion score: {result['decoder_ms_per_face']:.2f} ms per scored face "
                f"(each track every {pipeline.occlusion.every_s:g} media s and on its first frame)"
            )
        if result["identity_ms_per_face"] is not None:
            print(
                f"identity descriptor (dlib's ResNet, PyTorch) at batch 4: {result['identity_ms_per_face']:.1f} ms per "
                "embedded face; "
                "each track is embedded a few times, not every frame (stage 'identity' above)"
            )
    return result
