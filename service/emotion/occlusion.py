"""Live occlusion scores: the saliency decoder over a face's four backbone levels, and how much of the face
region expected from its landmarks the masks show (``models.face_regions.occlusion_score``).

The decoder was fitted on the features of one exact backbone and calibrated with it (its manifest holds the
threshold chosen on PublicTest faces with synthetic occluders): paired with another backbone it is a
``WeightsError`` at start-up. Faces are scored in one batch per analysis step, each track at most every
``every_s`` media seconds and on its first frame; between, a track keeps its last score.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models.face_regions import expected_face_mask, occlusion_score
from models.weights import WeightsError, load_model


class OcclusionScorer:
    def __init__(
        self, weights_dir: Path, model_name: str, backbone_sha256: str, device: torch.device, every_s: float
    ) -> None:
        self.decoder, self.manifest_entry = load_model(weights_dir, model_name, device, kind="saliency_decoder")
        paired = self.decoder.config.backbone_sha256
        if paired != backbone_sha256:
            raise WeightsError(
                f"saliency model {model_name!r} was fitted on backbone sha256 {paired}, but the loaded emotion "
                f"model has {backbone_sha256}; refit it with python -m models train-decoder"
            )
        self.threshold = float(self.manifest_entry["occlusion_threshold"])
        self.scales = int(self.manifest_entry["score_scales"])
        self.every_s = every_s
        self.device = device
        self._expected: dict[int, np.ndarray] = {}

    def due(self, last: float | None, pts: float) -> bool:
        """Whether a track last scored at ``last`` (None: never) needs a new score at ``pts``."""
        return last is None or pts < last or pts - last >= self.every_s - 1e-6

    @torch.inference_mode()
    def score(self, levels: Sequence[torch.Tensor], rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Occlusion scores (0 visible … 1 covered) of the faces at ``rows`` of a batch's four levels, and
        their masks at the second scale (12×12 for a 48 px crop: what the saliency heatmap averages)."""
        if not rows:
            return np.zeros(0, np.float32), np.zeros((0, 12, 12), np.float32)
        index = torch.as_tensor(list(rows), device=levels[0].device)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.device.type == "cuda"):
            logits = self.decoder(*(level.index_select(0, index) for level in levels))
        masks = [logit[:, 0].float().sigmoid().cpu().numpy() for logit in logits[: self.scales]]
        size = logits[0].shape[-1] * 2  # the finest mask is at stride 2 of the crop
        expected = self._expected.setdefault(size, expected_face_mask(size))
        scores = np.array([occlusion_score([mask[i] for mask in masks], expected) for i in range(len(rows))])
        return scores, masks[1]
