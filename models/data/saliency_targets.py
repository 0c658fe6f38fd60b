"""Face-saliency targets for the decoder, derived from MTCNN boxes and landmarks.

The decoder and its loss (Eq. 10–11) are those of "Multi-task framework for character face recognition and
emotion analysis in TV programs". FER2013 has no saliency labels, so they are built from what MTCNN finds
on each still:

* the face region: an ellipse inscribed in the MTCNN box, at ``face_level`` (0.5) — "this is face";
* the expressive parts: a Gaussian at each of the five landmarks (eyes, nose, mouth corners) with a spread
  of ``sigma_iod`` × the inter-ocular distance, peaking at 1 — "this is where the expression is".

The mask is the pixel-wise maximum of the two, in [0, 1], a soft target that BCE accepts. Stills fill
their 48×48 crop, which MTCNN handles badly, so each still is upscaled and pasted onto a flat background
canvas (its own mean grey) before detection, and the results are mapped back. Stills where MTCNN finds no
single confident face get the median landmarks and box of the detected ones (FER crops are roughly
aligned, so the median is a fair prior); ``detected`` says which is which.

    python -m models saliency-targets --data ../shared/data/fer2013_trainval.npz --out runs/saliency/fer.npz
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from models.face_regions import landmark_mask


def _canvas(still: np.ndarray, upscale: int, pad: int) -> np.ndarray:
    big = cv2.resize(still, (upscale, upscale), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((upscale + 2 * pad,) * 2, int(still.mean()), dtype=np.uint8)
    canvas[pad : pad + upscale, pad : pad + upscale] = big
    return cv2.cvtColor(canvas, cv2.COLOR_GRAY2RGB)


def detect_still_landmarks(
    stills: np.ndarray, upscale: int = 144, pad: int = 24, batch: int = 128, min_prob: float = 0.9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 48, 48) uint8 stills -> boxes (N, 4), landmarks (N, 5, 2) in still pixels, detected (N,) bool."""
    from facenet_pytorch import MTCNN  # heavy import, only for this offline step

    detector = MTCNN(keep_all=True, min_face_size=int(upscale * 0.55), device=torch.device("cpu"))
    side = stills.shape[-1]
    scale = side / upscale
    boxes = np.zeros((len(stills), 4), np.float32)
    points = np.zeros((len(stills), 5, 2), np.float32)
    detected = np.zeros(len(stills), bool)
    began = time.time()
    for start in range(0, len(stills), batch):
        chunk = np.stack([_canvas(s, upscale, pad) for s in stills[start : start + batch]])
        found_boxes, probs, marks = detector.detect(chunk, landmarks=True)
        for offset, (b, p, m) in enumerate(zip(found_boxes, probs, marks, strict=True)):
            if b is None or len(b) == 0:
                continue
            best = int(np.argmax(p))
            if p[best] < min_prob:
                continue
            i = start + offset
            boxes[i] = (np.asarray(b[best]) - pad) * scale
            points[i] = (np.asarray(m[best]) - pad) * scale
            detected[i] = True
        done = min(start + batch, len(stills))
        print(f"  {done}/{len(stills)} stills, {detected[:done].mean():.1%} detected, {time.time() - began:.0f} s")
    if detected.any():
        boxes[~detected] = np.median(boxes[detected], axis=0)
        points[~detected] = np.median(points[detected], axis=0)
    else:
        boxes[:] = (0, 0, side, side)
        points[:] = np.array([[0.31, 0.4], [0.69, 0.4], [0.5, 0.62], [0.34, 0.8], [0.66, 0.8]]) * side
    return boxes, points, detected


def build_masks(boxes: np.ndarray, points: np.ndarray, size: int) -> np.ndarray:
    """Masks for every still as uint8 (N, size, size), 255 = 1.0 (a quarter of the float32 memory)."""
    return np.stack(
        [np.round(landmark_mask(b, p, size) * 255).astype(np.uint8) for b, p in zip(boxes, points, strict=True)]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m models saliency-targets",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="fer2013_trainval.npz")
    parser.add_argument("--out", type=Path, default=Path("runs/saliency/fer.npz"))
    parser.add_argument("--usage", default="Training")
    parser.add_argument("--limit", type=int, default=0, help="first N rows only (smoke runs)")
    args = parser.parse_args(argv)
    data = np.load(args.data)
    stills = data["images"][data["usage"] == args.usage]
    if args.limit:
        stills = stills[: args.limit]
    boxes, points, detected = detect_still_landmarks(stills)
    masks = build_masks(boxes, points, stills.shape[-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, masks=masks, boxes=boxes, landmarks=points, detected=detected, usage=args.usage)
    print(f"wrote {args.out}: {len(masks)} masks, MTCNN found a face on {detected.mean():.1%}")
