#!/usr/bin/env bash
# The prepared GPU run: train the ResNet-18-width per-face network from scratch, then its temporal head.
#
# Here, once (CPU; about 3 minutes; runs/ is ignored by git, so nothing of the data is committed):
#   .venv/bin/python -m models pack-data --data ../shared/data/fer2013_trainval.npz --out runs/device/fer
#   .venv/bin/python -m service track-crops --clip ../shared/data/videos/opera_crowd_1080p.mp4 \
#       --out runs/device/opera_tracks.npz
# Then one device call (the tool's run verb), carrying runs/device (46 MiB with the 14 MiB tree: under 64 MiB):
#   command: bash scripts/device_train.sh    carry: ["runs/device"]    timeout_s: 600
# It runs the lent machine's own python3 (which holds torch) on this checkout. Everything that should come
# back is written to $OUT as it goes, in at most 8 files of at most 16 MiB: the log, the dry-run report, the
# manifest entries, the temporal head and the per-face weights split into 15 MiB parts (the fp32 network is
# about 45 MB). A run stopped at its limit still leaves the best epoch's weights and the log there.
# Back here: cat the parts into emotion.pt, check its sha256 against the manifest, and
#   python -m models publish --export-dir <that folder> --name emotion --as-stage   (and --name temporal)
#
# The same script runs on CPU with a tiny set in CI (tests/unit/models/training/test_device_train.py): every
# knob below has the GPU run's value as its default.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/device-out}
WORK=${WORK:-/tmp/se}
PACKED=${PACKED:-runs/device/fer}
TRACKS=${TRACKS:-runs/device/opera_tracks.npz}
DEVICE=${DEVICE:-cuda}
COMPILE=${COMPILE---compile}              # empty: no torch.compile
TRAIN_BUDGET_S=${TRAIN_BUDGET_S:-330}     # training incl. compilation; the whole call stays inside 10 minutes
DRY_STEPS=${DRY_STEPS:-60}
BATCH=${BATCH:-256}
LIMIT=${LIMIT:-0}                          # 0: every Training row
MAX_EPOCHS=${MAX_EPOCHS:-300}
THREADS=${THREADS:-8}
TEMPORAL=${TEMPORAL:---stills 4000 --val-stills 1000 --val-clips 800 --steps 600 --eval-every 100}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
mkdir -p "$OUT" "$WORK"
log="$OUT/train.log"
: > "$log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee -a "$log" || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$log"
$PY -m models unpack-data --packed "$PACKED" --out "$WORK/fer.npz" | tee -a "$log"

# the best epoch so far, copied into $OUT in parts as soon as it is saved, so a run cut off keeps it
keep_best() {
  local seen=""
  while sleep 10; do
    local best="$WORK/run/best.pt"
    [ -f "$best" ] || continue
    local now; now=$(stat -c %Y "$best")
    [ "$now" = "$seen" ] && continue
    sleep 1 && split -b 15M -d "$best" "$OUT/emotion.pt.part" && seen=$now
  done
}
keep_best &
keeper=$!
trap 'kill $keeper 2>/dev/null || true' EXIT

common=(--data "$WORK/fer.npz" --model resnet_ca_18 --device "$DEVICE" --bf16 on $COMPILE --device-data
        --batch-size "$BATCH" --lr 0.2 --weight-decay 5e-4 --seed 18 --threads "$THREADS" --limit "$LIMIT")
# 1. a short dry run measures one step and one PublicTest evaluation (compilation excluded)
$PY -m models train "${common[@]}" --dry-run-steps "$DRY_STEPS" --run-dir "$WORK/dry" 2>&1 | tee -a "$log"
report=$(grep -o '{"dry_run".*}' "$log" | tail -n 1)
echo "$report" > "$OUT/dry_run.json"
# 2. size the schedule to the budget: whole epochs, the last quarter of them weight-averaged
read -r epochs swa < <($PY -c "
import json, sys
r = json.loads(sys.argv[1])['dry_run']
epochs = min(int(sys.argv[3]), max(2, int(float(sys.argv[2]) * 0.95 // r['epoch_s'])))
print(epochs, max(1, epochs // 4))" "$report" "$TRAIN_BUDGET_S" "$MAX_EPOCHS")
echo "schedule: $epochs epochs, the last $swa averaged (budget ${TRAIN_BUDGET_S} s)" | tee -a "$log"
$PY -m models train "${common[@]}" --epochs "$epochs" --swa-epochs "$swa" --swa-lr 0.02 \
    --time-budget-s "$TRAIN_BUDGET_S" --run-dir "$WORK/run" --export-dir "$WORK/export" 2>&1 | tee -a "$log"
# 3. the temporal head on the new backbone's features (its manifest records that backbone's sha256)
tracks=()
[ -f "$TRACKS" ] && tracks=(--video-tracks "$TRACKS" --video-share 0.25)
# shellcheck disable=SC2086  # TEMPORAL is a list of options
$PY -m models train-temporal --data "$WORK/fer.npz" --weights-dir "$WORK/export" --backbone emotion $TEMPORAL \
    --device "$DEVICE" "${tracks[@]}" --export-dir "$WORK/export" 2>&1 | tee -a "$log"
# 4. what comes back: the exported weights replace the parts of the best epoch
kill $keeper 2>/dev/null || true
cp "$WORK/export/manifest.json" "$WORK/export/temporal.pt" "$OUT"/
split -b 15M -d "$WORK/export/emotion.pt" "$OUT/emotion.pt.part"
sha256sum "$WORK/export/emotion.pt" | tee -a "$log"
