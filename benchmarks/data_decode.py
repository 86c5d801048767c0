"""Decode+cache throughput of the data pipeline against a naive per-image PIL loop, in one run.

Writes N photo-sized JPEGs, decodes them to SxS with `decode_files` (draft mode, threads) and with
`Image.open(f).convert("RGB").resize((S, S))` one by one, then times a cache load of 5,000 images.
Prints a table and writes benchmarks/results/data_decode.json.

    python benchmarks/data_decode.py [--n 500] [--size 32]
"""
import argparse, json, os, platform, tempfile, time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from landscape_diffusion.data import Decoding, decode_files, load_decoding, save_decoding

REFERENCE_N = 4_300  # photos in the Kaggle landscape set


def write_photos(folder: Path, n: int, w=1024, h=768):
    "Photo-like JPEGs: smooth colour fields plus grain, so they compress like real photos."
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    for i in range(n):
        base = rng.uniform(0, 255, 3) + rng.uniform(-120, 120, 3) * y[..., None] + rng.uniform(-80, 80, 3) * np.sin(6 * x + i)[..., None]
        img = (base + rng.normal(0, 12, (h, w, 3))).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:05d}.jpg", quality=90)


def naive(files, size):
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size))) for f in files])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "data_decode.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"; folder.mkdir()
        write_photos(folder, args.n)
        files = sorted(folder.glob("*.jpg"))
        t = time.perf_counter(); naive(files, args.size); t_naive = time.perf_counter() - t
        t = time.perf_counter(); dec = decode_files(files, args.size); save_decoding(Path(tmp) / "c.npz", dec); t_ours = time.perf_counter() - t
        many = Decoding(torch.randint(0, 256, (5_000, 3, args.size, args.size), dtype=torch.uint8), [], 0)
        save_decoding(Path(tmp) / "many.npz", many)
        t = time.perf_counter(); load_decoding(Path(tmp) / "many.npz"); t_load = time.perf_counter() - t
    rows = {
        "naive PIL loop (img/s)": args.n / t_naive,
        "decode_files + cache (img/s)": args.n / t_ours,
        "speed-up (ratio, same run)": t_naive / t_ours,
        f"extrapolated: {REFERENCE_N:,} photos (s)": REFERENCE_N * t_ours / args.n,
        "cache load of 5,000 images (s)": t_load,
    }
    width = max(map(len, rows))
    print(f"{args.n} JPEGs of 1024x768 -> {args.size}x{args.size} on {os.cpu_count()} cores")
    for k, v in rows.items(): print(f"{k:<{width}}  {v:10.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"n": args.n, "size": args.size, "cores": os.cpu_count(), "machine": platform.processor() or platform.machine(),
                                          "torch": torch.__version__, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
