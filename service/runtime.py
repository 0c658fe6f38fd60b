"""Builds the worker's parts from settings: the one place that wires detector, model, analyzer and Redis."""

from __future__ import annotations

import logging

import torch

from models.device import resolve_device
from service.bus.connection import RedisTarget
from service.bus.keys import Keys
from service.bus.publisher import Publisher
from service.bus.registry import StreamRegistry
from service.config import Settings
from service.emotion.classifier import EmotionClassifier
from service.emotion.temporal import TrackTemporal
from service.vision.detector import FaceDetector
from service.worker.analyzer import AnalysisOptions, FrameAnalyzer
from service.worker.runner import Worker
from service.worker.timing import StageTimer


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def build_detector(settings: Settings, device: torch.device) -> FaceDetector:
    """MTCNN configured from settings: one place, so every command cuts faces as the live path does."""
    return FaceDetector(
        device, settings.detect_long_side, settings.min_face_size, settings.detect_thresholds, settings.min_face_score
    )


def build_analyzer(settings: Settings, timer: StageTimer | None = None) -> FrameAnalyzer:
    """Loads MTCNN and the emotion model (raises ``WeightsError`` when the weights are missing or wrong)."""
    device = resolve_device(settings.device)
    if device.type == "cpu" and torch.get_num_threads() > 4:
        torch.set_num_threads(4)  # leave cores for the decode threads
    classifier = EmotionClassifier(settings.weights_dir, settings.model_name, device, settings.polarity_map)
    temporal = None
    if settings.temporal_model:
        temporal = TrackTemporal(
            settings.weights_dir, settings.temporal_model, classifier.manifest_entry["sha256"], device
        )
    detector = build_detector(settings, device)
    options = AnalysisOptions(
        settings.window_s,
        settings.stats_interval_s,
        settings.track_iou,
        settings.track_max_age_s,
        settings.label_margin,
        settings.label_hold_s,
    )
    return FrameAnalyzer(detector, classifier, options, timer, temporal)


def build_worker(settings: Settings, target: RedisTarget) -> Worker:
    client = target.client()
    keys = Keys(settings.key_prefix)
    return Worker(
        settings,
        StreamRegistry(client, keys),
        Publisher(client, keys, settings.events_maxlen),
        build_analyzer(settings),
    )
