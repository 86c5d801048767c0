"""DDIM's eta (fresh noise per step) and step count against sample quality for one checkpoint.

Samples 256 images per setting from the EMA weights and scores them against the photos its run held out: the
offline metric (sliced Wasserstein distance of Laplacian-pyramid patches; lower is better) and the colour
statistics (mean HSV saturation, channel spread). Prints a table and writes JSON.

    python benchmarks/eta_sweep.py CHECKPOINT DATA OUT.json
"""
import json, sys

from landscape_diffusion.evaluate import evaluate, format_table

SETTINGS = [("ddim", 50, 0.0), ("ddim", 50, 0.5), ("ddim", 50, 1.0), ("ddim", 100, 0.0), ("ddim", 100, 1.0), ("ddim", 250, 0.0),
            ("ddim", 250, 1.0), ("ddpm", 1000, 1.0)]
KEYS = ("sampler", "steps", "eta", "swd_mean", "swd_32px", "swd_16px", "saturation", "real_saturation", "colour_std_error", "sample_seconds")


def main(ckpt, data, out):
    rows = []
    for sampler, steps, eta in SETTINGS:
        r = evaluate(ckpt, data, n=256, sampler=sampler, steps=steps, eta=eta, metrics=("swd", "colour"))
        rows.append({k: r[k] for k in KEYS})
        print(rows[-1], flush=True)
    print(format_table(rows))
    with open(out, "w") as f: json.dump(dict(checkpoint=ckpt, data=data, n=256, rows=rows), f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
