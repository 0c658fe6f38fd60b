"""Live temporal smoothing: each track's cached D′4 maps through the trained temporal head.

Per stream, a ``TrackFeatureCache`` keeps the last S maps of every track (S = the head's window). For each
analysed frame the faces' maps are pushed, the windows (left-padded for new tracks, as in training) are
stacked across all faces of the batch, and the head's newest step gives the label the timeline reports.
The head was trained on the features of one exact backbone: a head paired with another backbone is a
``WeightsError`` at start-up, not silently worse output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from models.nets.temporal_head import pad_window
from models.weights import WeightsError, load_model
from service.emotion.feature_cache import TrackFeatureCache


class TrackTemporal:
    def __init__(self, weights_dir: Path, model_name: str, backbone_sha256: str, device: torch.device) -> None:
        self.head, self.manifest_entry = load_model(weights_dir, model_name, device, kind="temporal_head")
        paired = self.manifest_entry.get("backbone_sha256")
        if paired != backbone_sha256:
            raise WeightsError(
                f"temporal model {model_name!r} was trained on backbone sha256 {paired}, but the loaded emotion "
                f"model has {backbone_sha256}; retrain it with python -m models train-temporal"
            )
        self.window = self.head.config.window
        self.device = device

    def new_cache(self) -> TrackFeatureCache:
        return TrackFeatureCache(self.window)

    @torch.inference_mode()
    def update(
        self, items: list[tuple[TrackFeatureCache, int, float, torch.Tensor | None]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cache, track id, pts, D′4 map) per face -> probabilities (N, C), V/A (N, 2), confidence (N,).
        A map of None (a covered face) adds nothing to the track's window: its output is the window's as it
        stood, so what the network reads off a hand never enters the track's history."""
        if not items:
            return np.zeros((0, self.head.config.num_classes), np.float32), np.zeros((0, 2), np.float32), np.zeros(0)
        windows = []
        for cache, track_id, pts, features in items:
            if features is None:
                windows.append(pad_window(cache.window(track_id)[1], self.window))
                continue
            if cache.size(track_id) and pts <= cache.entries(track_id)[-1][0]:
                cache.drop(track_id)  # media time went back (a looped file, a restarted source): a new track
            cache.push(track_id, pts, features)
            windows.append(pad_window(cache.window(track_id)[1], self.window))
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"):
            probs, valence_arousal, confidence = self.head.newest(torch.stack(windows))
        return (
            probs.float().cpu().numpy(),
            valence_arousal.float().cpu().numpy(),
            confidence.float().cpu().numpy(),
        )
