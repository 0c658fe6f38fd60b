"""Builds the worker's parts from settings: the one place that wires detector, models, pipeline and Redis."""

from __future__ import annotations

import torch

from models.device import resolve_device
from service.bus.connection import RedisTarget
from service.bus.gallery import GalleryStore
from service.bus.keyframes import KeyframeStore
from service.bus.keys import Keys
from service.bus.publisher import Publisher
from service.bus.registry import StreamRegistry
from service.config import Settings
from service.emotion.classifier import EmotionClassifier
from service.emotion.occlusion import OcclusionScorer
from service.emotion.temporal import TrackTemporal
from service.identity.characters import IdentityThresholds
from service.identity.embedder import FaceEmbedder
from service.identity.quality import QualityGate
from service.pipeline.faces import FacePipeline
from service.pipeline.identity import IdentityStage
from service.vision.detector import FaceDetector
from service.worker.runner import Worker
from service.worker.timing import StageTimer


def build_detector(settings: Settings, device: torch.device) -> FaceDetector:
    """MTCNN configured from settings: one place, so every command cuts faces as the live path does."""
    return FaceDetector(
        device,
        long_side=settings.detect_long_side,
        min_face_size=settings.min_face_size,
        thresholds=settings.detect_thresholds,
        min_score=settings.min_face_score,
    )


def quality_gate(settings: Settings) -> QualityGate:
    return QualityGate(settings.identity_min_face_px, settings.identity_min_sharpness, settings.identity_max_yaw)


def build_identity(settings: Settings, device: torch.device) -> IdentityStage | None:
    """dlib's descriptor and the character book's thresholds; None when identity is switched off."""
    if not settings.identity:
        return None
    thresholds = IdentityThresholds(
        match_distance=settings.identity_match_distance,
        gallery_distance=settings.identity_gallery_distance,
        first_look_gallery_distance=settings.identity_first_look_gallery_distance,
        margin=settings.identity_margin,
        min_embeddings=settings.identity_min_embeddings,
        near_distance=settings.identity_near_distance,
        min_embeddings_near=settings.identity_min_embeddings_near,
        split_distance=settings.identity_split_distance,
    )
    return IdentityStage(FaceEmbedder(settings.weights_dir, device), quality_gate(settings), thresholds)


def build_pipeline(settings: Settings, timer: StageTimer | None = None) -> FacePipeline:
    """Loads MTCNN and the emotion models (raises ``WeightsError`` when the weights are missing or wrong)."""
    device = resolve_device(settings.device)
    if device.type == "cpu" and torch.get_num_threads() > 4:
        torch.set_num_threads(4)  # leave cores for the decode threads
    classifier = EmotionClassifier(
        settings.weights_dir, settings.model_name, device, settings.polarity_map, settings.cpu_bf16_min_batch
    )
    temporal = None
    if settings.temporal_model:
        temporal = TrackTemporal(
            settings.weights_dir, settings.temporal_model, classifier.manifest_entry["sha256"], device
        )
    occlusion = None
    if settings.saliency_model:
        occlusion = OcclusionScorer(
            settings.weights_dir,
            settings.saliency_model,
            classifier.manifest_entry["sha256"],
            device,
            settings.occlusion_every_s,
        )
    return FacePipeline(
        build_detector(settings, device),
        classifier,
        temporal,
        timer or StageTimer(),
        identity=build_identity(settings, device),
        occlusion=occlusion,
        detect_interval_s=settings.detect_interval_s,
        jump_ncc=settings.identity_jump_ncc,
        track_iou=settings.track_iou,
        track_max_age_s=settings.track_max_age_s,
        label_margin=settings.label_margin,
        label_hold_s=settings.label_hold_s,
    )


def build_worker(settings: Settings, target: RedisTarget) -> Worker:
    client = target.client()
    keys = Keys(settings.key_prefix)
    return Worker(
        settings,
        StreamRegistry(client, keys),
        Publisher(client, keys, settings.events_maxlen),
        KeyframeStore(target.client(decode_responses=False), keys),
        build_pipeline(settings),
        GalleryStore(target.client(decode_responses=False), keys),
    )
