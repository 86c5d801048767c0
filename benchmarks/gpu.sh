#!/usr/bin/env bash
# One prepared GPU check for a single-GPU machine, under 8 minutes: reference vs `fast` training throughput,
# the extrapolated seed-schedule time, a ~3-4-minute `fast` run on real landscape photos, then 1,000 DDIM-50
# samples as a uint8 npz and a grid. Everything lands in $OUT (default benchmarks/results/gpu), ready to commit.
#
# ../shared does not travel to the GPU machine: copy the photos and the reference into ignored folders and carry them.
#   mkdir -p .data .ref && cp ../shared/data/landscapes32_train.npz .data/ && cp ../shared/reference/seed_ref.py .ref/
#   OUT=/some/dir SEED_REF_DIR=.ref bash benchmarks/gpu.sh        # device run: carry [".data", ".ref"]
set -euo pipefail
OUT=${OUT:-benchmarks/results/gpu}
DATA=${DATA:-.data/landscapes32_train.npz}
TRAIN_SECONDS=${TRAIN_SECONDS:-150}  # plus about a minute of torch.compile
# one round: a GPU drifts less than a shared CPU, and every round compiles the fast preset twice
SPEED_ARGS=${SPEED_ARGS:---rounds 1 --windows 3 --steps 20}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# The machine has no package index: no build isolation, no dependencies; the source tree is on the path anyway.
python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null || true
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" SEED_REF_DIR=$(realpath "${SEED_REF_DIR:-../shared/reference}")
LD="python -m landscape_diffusion"
TIME=$(command -v /usr/bin/time >/dev/null && echo "/usr/bin/time -v" || true)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

# 1. Training throughput: reference step (fp32 eager, batch 24) vs ours, same process tree, same card.
python benchmarks/train_speed.py $SPEED_ARGS | tee "$OUT/train_speed.txt"
cp benchmarks/results/train_speed_cuda_32px.json "$OUT/"

# 2. A fast-preset run of about TRAIN_SECONDS on real photos: epochs from the measured throughput.
EPOCHS=$(python - "$OUT/train_speed_cuda_32px.json" "$DATA" "$TRAIN_SECONDS" <<'PY'
import json, sys, numpy as np
rows = json.load(open(sys.argv[1]))["training"]
fast = max((r for r in rows if r["config"].startswith("fast") and r["size"] == 32), key=lambda r: r["batch"])
n = len(np.load(sys.argv[2])["images"])
print(max(1, int(float(sys.argv[3]) * fast["img_s"] / n)))
PY
)
echo "training the fast preset for $EPOCHS epochs"
$TIME $LD train --preset fast --data "$DATA" --epochs "$EPOCHS" --sample-every 1000000 \
    --out "$OUT/run" --progress lines 2>&1 | tee "$OUT/train.log" | grep -v "^epoch .* step "

# 3. 1,000 DDIM-50 samples from the EMA weights: a uint8 npz (key `images`) and a grid.
$LD sample --ckpt "$OUT/run/checkpoint.pt" --n 1000 --sampler ddim --steps 50 --eta 0.5 --seed 0 \
    --out "$OUT/grid_1000.png" --save-npz "$OUT/samples_ddim50.npz"
$LD sample --ckpt "$OUT/run/checkpoint.pt" --n 64 --sampler ddim --steps 50 --eta 0.5 --seed 0 --out "$OUT/grid.png"
rm -f "$OUT/run/checkpoint.pt"  # 280 MB: keep the grids and logs, not the weights
# the device tool returns at most 8 files: the run folder travels as one archive
tar czf "$OUT/run.tgz" -C "$OUT" run && rm -rf "$OUT/run"
ls -la "$OUT"
