"""Face detection with facenet-pytorch's MTCNN on a downscaled copy of each frame, and tracking by its last
stage alone.

Detection cost grows with pixels, so frames are shrunk to ``long_side`` first and boxes and landmarks are
mapped back. Between full detections a known face is followed by ``refine``: MTCNN's O-net (its third stage,
which takes a square candidate box, says whether a face is in it and regresses the box and the five
landmarks) on a square around the face's previous box. That costs one 48×48 forward pass per face whatever
the frame size, and moves the landmarks too, so alignment keeps working on tracked frames.

The adapter calls facenet-pytorch's ``detect_face`` directly: it returns plain per-image
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

ONET_SIZE = 48


def square(box: np.ndarray) -> np.ndarray:
    """The square with the same centre and the longer side (MTCNN's ``rerec``): O-net's input shape."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def onet_input(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The square ``box`` of ``image`` as a 48×48 O-net input, zero-padded where it leaves the image (so the
    network's outputs map back through the whole square, as in the original MTCNN)."""
    x1, y1, x2, y2 = (int(np.floor(v)) for v in box)
    side = max(1, x2 - x1)
    canvas = np.zeros((side, side, 3), dtype=np.uint8)
    height, width = image.shape[:2]
    sx1, sy1, sx2, sy2 = max(0, x1), max(0, y1), min(width, x1 + side), min(height, y1 + side)
    if sx2 > sx1 and sy2 > sy1:
        canvas[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[sy1:sy2, sx1:sx2]
    return cv2.resize(canvas, (ONET_SIZE, ONET_SIZE), interpolation=cv2.INTER_AREA)


def from_onet(box: np.ndarray, regression: np.ndarray, landmarks: np.ndarray, score: float) -> Detection:
    """O-net's outputs for input square ``box`` as a detection (MTCNN's landmark mapping and ``bbreg``)."""
    x1, y1, x2, y2 = box
    width, height = x2 - x1 + 1, y2 - y1 + 1
    points = np.stack([width * landmarks[:5] + x1 - 1, height * landmarks[5:] + y1 - 1], axis=1)
    refined = np.array([x1 + regression[0] * width, y1 + regression[1] * height,
                        x2 + regression[2] * width, y2 + regression[3] * height])  # fmt: skip
    return Detection(refined.astype(np.float32), float(score), points.astype(np.float32))


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

    @torch.inference_mode()
    def refine(self, images: list[np.ndarray], boxes: list[list[np.ndarray]]) -> list[list[Detection | None]]:
        """Follows known faces: per image, per previous box (image pixels), the face there now, or None when
        O-net no longer sees a face there (the track is lost: the caller runs a full detection). Images may
        differ in size; every face of every image goes through O-net in one batch."""
        squares = [[square(box) for box in image_boxes] for image_boxes in boxes]
        inputs = [onet_input(image, box) for image, image_squares in zip(images, squares, strict=True)
                  for box in image_squares]  # fmt: skip
        results: list[list[Detection | None]] = [[] for _ in images]
        if not inputs:
            return results
        batch = torch.as_tensor(np.stack(inputs), device=self.device).permute(0, 3, 1, 2).float()
        regression, landmarks, probs = self.onet((batch - 127.5) * 0.0078125)
        regression, landmarks = regression.cpu().numpy(), landmarks.cpu().numpy()
        scores = probs[:, 1].cpu().numpy()
        n = 0
        for i, image_squares in enumerate(squares):
            for box in image_squares:
                found = from_onet(box, regression[n], landmarks[n], scores[n])
                x1, y1, x2, y2 = found.box
                keep = found.score >= self.min_score and x2 > x1 and y2 > y1
                results[i].append(found if keep else None)
                n += 1
        return results
