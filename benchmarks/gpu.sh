#!/usr/bin/env bash
# One prepared check of the GPU path users take, for a single-GPU machine, in about 8 minutes:
#  1. benchmarks/gpu_path.py: the `fast` training loop (grids and checkpoint cadence included) against the reference
#     step in the same run, the checkpoint write time and its share, 64 samples' time, and the T4 path (a T4's
#     answers on this GPU: fp16 with a GradScaler chosen, steps/s, the loss finite);
#  2. nbs/03_train.ipynb run top to bottom in a fresh kernel (nbclient), as "Run all" does, with the `fast` preset on
#     the photos and a 2-minute time limit; then run again, which resumes the run it finds.
# Everything lands in $OUT (default benchmarks/results/gpu), at most 8 files, ready to commit.
#
# ../shared does not travel to the GPU machine: copy the photos and the reference into ignored folders and carry them.
#   mkdir -p .data .ref && cp ../shared/data/landscapes32_train.npz .data/ && cp ../shared/reference/seed_ref.py .ref/
#   OUT=/some/dir SEED_REF_DIR=.ref bash benchmarks/gpu.sh        # device run: carry [".data", ".ref"]
# On a CPU, to try the script itself: PRESET=tiny DATA=synthetic LOOP_SECONDS=15 T4_SECONDS=5 NOTEBOOK_LIMIT=20s \
#   RESUME_LIMIT=10s REFERENCE_STEPS=2 OUT=/tmp/gpu bash benchmarks/gpu.sh
set -euo pipefail
OUT=${OUT:-benchmarks/results/gpu}
DATA=${DATA:-.data/landscapes32_train.npz}
PRESET=${PRESET:-fast}
LOOP_SECONDS=${LOOP_SECONDS:-75}    # compiling (about a minute) included
T4_SECONDS=${T4_SECONDS:-30}
NOTEBOOK_LIMIT=${NOTEBOOK_LIMIT:-2m}
RESUME_LIMIT=${RESUME_LIMIT:-30s}
REFERENCE_STEPS=${REFERENCE_STEPS:-30}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# The machine has no package index: no build isolation, no dependencies; the source tree is on the path anyway.
python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null || true
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" SEED_REF_DIR=$(realpath "${SEED_REF_DIR:-../shared/reference}")
[ "$DATA" = synthetic ] || DATA=$(realpath "$DATA")
OUT=$(realpath "$OUT")
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no GPU"; } | tee "$OUT/gpu.txt"

# 1. The loop, the checkpoint writes, sampling, the T4 path.
python benchmarks/gpu_path.py --data "$DATA" --preset "$PRESET" --seconds "$LOOP_SECONDS" --t4-seconds "$T4_SECONDS" \
    --reference-steps "$REFERENCE_STEPS" --out "$OUT" | tee "$OUT/gpu_path.txt"

# 2. The training notebook as "Run all" runs it, then once more: it resumes the run it finds.
RUN="$OUT/notebook_run"
PARAMS="preset, data, time_limit, out = '$PRESET', '$DATA', '%s', '$RUN'"
python tools/run_notebook.py nbs/03_train.ipynb "$OUT/train_notebook.ipynb" "$(printf "$PARAMS" "$NOTEBOOK_LIMIT")"
python tools/run_notebook.py nbs/03_train.ipynb "$OUT/train_notebook_resumed.ipynb" "$(printf "$PARAMS" "$RESUME_LIMIT")"
cp "$RUN/loss.png" "$OUT/loss.png"
cp "$RUN/samples.png" "$OUT/grid.png"
rm -f "$RUN/checkpoint.pt"  # hundreds of MB: keep the grids and the loss plot, not the weights
tar czf "$OUT/notebook_run.tgz" -C "$OUT" notebook_run && rm -rf "$RUN"
ls -la "$OUT"
