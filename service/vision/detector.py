"""Face detection with facenet-pytorch's MTCNN on a downscaled copy of each frame.

Detection cost grows with pixels, so frames are shrunk to ``long_side`` first and boxes and landmarks are
mapped back. The adapter calls facenet-pytorch's ``detect_face`` directly: it returns plain per-image
arrays (the ``MTCNN.detect`` wrapper builds ragged object arrays that numpy 2 handles poorly). The three
networks' weights ship inside the facenet-pytorch package; nothing is downloaded.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from facenet_pytorch import MTCNN
from facenet_pytorch.models.utils.detect_face import detect_face

from service.vision.detection import Detection


class FaceDetector:
    """Batched MTCNN detection; frames of one batch must share a size (frames of one stream do)."""

    def __init__(
        self,
        device: torch.device,
        *,
        long_side: int,
        min_face_size: int,
        thresholds: tuple[float, float, float],
        min_score: float,
        factor: float = 0.709,  # MTCNN's image-pyramid step
    ) -> None:
        """Built from settings by ``service.runtime.build_detector`` (the defaults live in ``Settings``)."""
        nets = MTCNN(device=device)  # only to load P/R/O-net weights from the package
        self.pnet, self.rnet, self.onet = nets.pnet.eval(), nets.rnet.eval(), nets.onet.eval()
        self.device = device
        self.long_side = long_side
        self.min_face_size = min_face_size
        self.thresholds = list(thresholds)
        self.min_score = min_score
        self.factor = factor

    def _downscale(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        height, width = image.shape[:2]
        scale = min(1.0, self.long_side / max(height, width))
        if scale == 1.0:
            return image, 1.0
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale

    @torch.inference_mode()
    def detect(self, images: list[np.ndarray]) -> list[list[Detection]]:
        """RGB uint8 frames (same size) -> per frame, detections in that frame's pixel coordinates."""
        if not images:
            return []
        small = [self._downscale(image) for image in images]
        batch = np.stack([s[0] for s in small])
        boxes, points = detect_face(
            batch, self.min_face_size, self.pnet, self.rnet, self.onet, self.thresholds, self.factor, self.device
        )
        results: list[list[Detection]] = []
        for i, (_, scale) in enumerate(small):
            frame_boxes = np.asarray(boxes[i], dtype=np.float32).reshape(-1, 5)
            frame_points = np.asarray(points[i], dtype=np.float32).reshape(-1, 5, 2)
            found = [
                Detection(box[:4] / scale, float(box[4]), marks / scale)
                for box, marks in zip(frame_boxes, frame_points, strict=True)
                if box[4] >= self.min_score and box[2] > box[0] and box[3] > box[1]
            ]
            results.append(found)
        return results
