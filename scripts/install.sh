#!/usr/bin/env bash
# Creates .venv/ and installs what is missing; a second run with nothing changed does nothing.
# torch/torchvision first (this pair is on local disk on the project machines and runs on CPU and CUDA),
# then the project with its worker and test extras, then facenet-pytorch with --no-deps (it pins torch<2.3, numpy<2)
# and scenedetect with --no-deps (it asks for opencv-python, which would clash with opencv-python-headless).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
stamp=.venv/.installed
want=$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip
pip install -q torch==2.14.1 torchvision==0.29.1
pip install -q -e ".[worker,test]"
pip install -q --no-deps facenet-pytorch==2.6.0 scenedetect==0.7.2
# prove that what facenet-pytorch imports works with the installed torch/torchvision/numpy
.venv/bin/python - <<'PY'
import numpy as np, torch, torchvision
from facenet_pytorch import MTCNN
from torchvision.ops import nms
import dlib, scenedetect
from scenedetect.detectors import ContentDetector
boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]])
assert nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0]
MTCNN(device="cpu")  # loads its bundled weights; nothing is downloaded
print(f"installed: torch {torch.__version__}, torchvision {torchvision.__version__}, numpy {np.__version__}")
PY
echo "$want" > "$stamp"
