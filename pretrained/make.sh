#!/usr/bin/env bash
# Rebuilds pretrained/landscapes32.safetensors and what its model card reports, from a clone with the library installed:
#   bash pretrained/make.sh [PHOTOS]    (PHOTOS: the shared 32x32 photos .npz, a folder of photos, or kaggle)
# Trains the cpu-photos preset on the photos' training part (every 10th photo is held out and never trained on),
# keeps its EMA weights in half precision as safetensors with the sampler that benchmarks/samplers.py found best for
# it (DPM-Solver++ 2M, 20 steps: the quality of 250-step DDIM), scores 1,024 samples against the held-out photos
# (with the floor: training photos against them, at the same n) and draws a grid.
# benchmarks/recipes_per_hour.py tried a longer EMA and a 4.3 M-parameter UNet for the same hour (neither scored
# better) and two hours (2.3 better in SWD, about two seed-to-seed standard deviations, still 2x the floor).
set -euo pipefail
PHOTOS=${1:-../shared/data/landscapes32_train.npz}
RUN=runs/pretrained-cpu-photos
landscape-diffusion train --preset cpu-photos --data "$PHOTOS" --out "$RUN" --time-limit 75m --progress lines
landscape-diffusion export --ckpt "$RUN/checkpoint.pt" --out pretrained/landscapes32.safetensors --sampler dpm++ --steps 20 --eta 0
landscape-diffusion evaluate --ckpt pretrained/landscapes32.safetensors --data "$PHOTOS" --n 1024 --json pretrained/landscapes32-evaluate.json
landscape-diffusion sample --ckpt pretrained/landscapes32.safetensors --n 64 --out pretrained/landscapes32.png
