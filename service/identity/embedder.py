"""Identity embeddings: dlib's ResNet face descriptor (128-d, 99.38 % on LFW) from ``face_recognition_models``.

The two model files ship in that PyPI package (CC0, by Davis King): the 5-point landmark predictor places
the face in dlib's own 150 px chip (dlib, on the CPU, about a millisecond), the ResNet maps the chip to a
descriptor where one person's faces lie within about 0.4 of each other. The ResNet runs in PyTorch on the
worker's device, its weights read from dlib's file (``dlib_resnet``): the same descriptors to 1e-6, batched,
on the GPU when there is one; on two CPU cores 7 ms a face alone and 3 ms in a batch of 8, where dlib takes
75 ms. Nothing is downloaded; the files are checked against the sha256 in ``weights/manifest.json`` (entry
``identity``), so a changed package is a start-up error, not a silent change of every distance.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import dlib
import numpy as np
import torch

from models.weights import WeightsError, sha256_of
from service.identity.dlib_resnet import DIMENSION, DlibFaceResNet

CHIP_SIZE, CHIP_PADDING = 150, 0.25  # what the descriptor was trained on


def _package_models_dir() -> Path:
    # importing the package itself needs pkg_resources, which new setuptools no longer has: locate it only
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("face_recognition_models is not installed (scripts/install.sh installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def identity_manifest(weights_dir: Path) -> dict:
    path = weights_dir / "manifest.json"
    try:
        return json.loads(path.read_text())["identity"]
    except (OSError, ValueError, KeyError) as exc:
        raise WeightsError(f"no 'identity' entry in {path}: {exc}") from exc


class FaceEmbedder:
    """Chips and descriptors; one instance per worker (the dlib objects are not shared across threads)."""

    def __init__(self, weights_dir: Path, device: torch.device) -> None:
        entry = identity_manifest(weights_dir)
        models_dir = _package_models_dir()
        paths = {}
        for role, spec in entry["files"].items():
            path = models_dir / spec["file"]
            if not path.is_file():
                raise WeightsError(f"identity model file missing: {path}")
            if sha256_of(path) != spec["sha256"]:
                raise WeightsError(f"identity model file {path} does not match its sha256 in the manifest")
            paths[role] = str(path)
        self._landmarks = dlib.shape_predictor(paths["landmarks"])
        self.device = device
        self._descriptor = DlibFaceResNet.from_file(Path(paths["descriptor"])).to(device)
        self.dimension = DIMENSION

    def chip(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The face in ``box`` (RGB uint8 image), aligned as dlib's descriptor expects: (150, 150, 3) uint8."""
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        shape = self._landmarks(np.ascontiguousarray(image), dlib.rectangle(x1, y1, x2, y2))
        return np.asarray(dlib.get_face_chip(np.ascontiguousarray(image), shape, size=CHIP_SIZE, padding=CHIP_PADDING))

    @torch.inference_mode()
    def embed(self, chips: list[np.ndarray]) -> np.ndarray:
        """(N, 128) float32 descriptors of aligned chips, in one batch (float32: the thresholds are dlib's)."""
        if not chips:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batch = torch.from_numpy(np.stack(chips).astype(np.uint8, copy=False)).to(self.device).float()
        return self._descriptor(batch).cpu().numpy()
