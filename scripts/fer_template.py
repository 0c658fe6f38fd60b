"""Derive the canonical 5-point alignment template from the emotion training data.

The emotion model learns on FER2013 crops, so live faces are aligned to where MTCNN finds the eyes, nose
and mouth corners on those crops: their median position (in units of the crop side) over a sample of
training faces. Prints the template that ``models/face_regions.py`` holds as ``FER_TEMPLATE`` and the median
MTCNN face box of the same faces, from which that module's ``TEMPLATE_BOX`` (the occlusion score's face
region) drops the forehead.

    python scripts/fer_template.py --data ../shared/data/fer2013_trainval.npz --samples 400
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
from facenet_pytorch import MTCNN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--upscale", type=int, default=160, help="side the 48×48 crops are resized to for MTCNN")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = np.load(args.data)
    rows = np.flatnonzero(data["usage"] == "Training")
    rng = np.random.default_rng(0)
    picked = rng.choice(rows, size=min(args.samples, len(rows)), replace=False)
    detector = MTCNN(keep_all=True, min_face_size=90, device=torch.device("cpu"))
    points, boxes = [], []
    for start in range(0, len(picked), 64):
        batch = [
            cv2.cvtColor(
                cv2.resize(data["images"][i], (args.upscale,) * 2, interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2RGB
            )
            for i in picked[start : start + 64]
        ]
        found, probs, landmarks = detector.detect(np.stack(batch), landmarks=True)
        for box, prob, marks in zip(found, probs, landmarks, strict=True):
            if marks is None or len(marks) != 1 or prob[0] < 0.95:
                continue  # keep unambiguous single-face detections only
            points.append(np.asarray(marks[0], dtype=np.float64) / args.upscale)
            boxes.append(np.asarray(box[0], dtype=np.float64) / args.upscale)
    stacked = np.stack(points)
    template = np.median(stacked, axis=0)
    print(f"faces used: {len(stacked)} of {len(picked)}")
    print("spread (IQR, crop units):", np.round(np.subtract(*np.percentile(stacked, [75, 25], axis=0)), 4).tolist())
    print("FER_TEMPLATE =", np.round(template, 4).tolist())
    print("median MTCNN box =", np.round(np.median(np.stack(boxes), axis=0), 4).tolist())


if __name__ == "__main__":
    main()
