#!/usr/bin/env bash
# Rebuilds pretrained/landscapes32.pt and what its model card reports, from a clone with the library installed:
#   bash pretrained/make.sh [PHOTOS]    (PHOTOS: the shared 32x32 photos .npz, a folder of photos, or kaggle)
# Trains the cpu-photos preset on the photos' training part (every 10th photo is held out and never trained on),
# keeps its EMA weights in half precision with the sampler that benchmarks/samplers.py found best for it (DPM-Solver++
# 2M, 20 steps: the quality of 250-step DDIM), and scores 512 samples against the held-out photos.
set -euo pipefail
PHOTOS=${1:-../shared/data/landscapes32_train.npz}
RUN=runs/pretrained-cpu-photos
landscape-diffusion train --preset cpu-photos --data "$PHOTOS" --out "$RUN" --time-limit 75m --progress lines
landscape-diffusion export --ckpt "$RUN/checkpoint.pt" --out pretrained/landscapes32.pt --sampler dpm++ --steps 20 --eta 0
landscape-diffusion evaluate --ckpt pretrained/landscapes32.pt --data "$PHOTOS" --n 512 --json pretrained/landscapes32-evaluate.json
landscape-diffusion sample --ckpt pretrained/landscapes32.pt --n 64 --out pretrained/landscapes32.png
