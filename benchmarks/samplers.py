"""Sample quality against model evaluations: DPM-Solver++ 2M, DDIM and DDPM on one checkpoint.

Samples `--n` images per setting from the same seed (the same starting noise for every sampler) and scores them
against the photos the checkpoint's run held out: the offline metric (sliced Wasserstein distance of
Laplacian-pyramid patches; lower is better) and the colour statistics, with the seconds sampling took. Prints a
table and writes samplers_<cpu capability>.json and .png (SWD against model evaluations) to OUT_DIR; the JSON is
rewritten after every setting, so a run cut short keeps what it measured.

    python benchmarks/samplers.py CHECKPOINT DATA OUT_DIR [--n 512]
"""
import argparse, json, platform
from pathlib import Path

import torch

from landscape_diffusion.checkpoint import model_from_checkpoint
from landscape_diffusion.device import cpu_capability
from landscape_diffusion.diffusion import SAMPLERS, spaced_timesteps
from landscape_diffusion.evaluate import evaluate, format_table

SETTINGS = [("dpm++", s, 0.0) for s in (8, 10, 15, 20, 25)] + [("ddim", s, 0.0) for s in (25, 50, 100, 250)] + [("ddpm", 1000, 1.0)]
KEYS = ("sampler", "steps", "evaluations", "swd_mean", "swd_32px", "swd_16px", "saturation", "real_saturation",
        "colour_mean_error", "colour_std_error", "sample_seconds", "isa", "cpu_capability")


def machine() -> dict:
    "What the seconds were measured on."
    return dict(isa=torch.backends.cpu.get_cpu_capability(), cpu_capability=cpu_capability(), torch=torch.__version__,
                threads=torch.get_num_threads(), processor=platform.processor() or platform.machine())


def plot(rows:list, path:Path, title:str):
    "SWD against model evaluations, one line per sampler."
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for sampler in dict.fromkeys(r["sampler"] for r in rows):
        pts = [(r["evaluations"], r["swd_mean"]) for r in rows if r["sampler"] == sampler]
        ax.plot(*zip(*pts), "o-", label=sampler)
    ax.set(xscale="log", xlabel="model evaluations", ylabel="SWD (lower is better)", title=title)
    ax.legend(); fig.tight_layout(); fig.savefig(path, dpi=120); plt.close(fig)


def main(ckpt:str, data:str, out_dir:str, n:int=512, seed:int=0):
    out = Path(out_dir); out.mkdir(parents=True, exist_ok=True)
    host = machine()
    stem = out / f"samplers_{host['cpu_capability']}"
    _, diffusion, _ = model_from_checkpoint(ckpt)
    rows = []
    for sampler, steps, eta in SETTINGS:
        r = evaluate(ckpt, data, n=n, sampler=sampler, steps=steps, eta=eta, seed=seed, metrics=("swd", "colour"))
        evaluations = len(spaced_timesteps(diffusion.alpha_bar, steps, SAMPLERS[sampler][0]))
        rows.append({k: v for k, v in {**r, **host, "evaluations": evaluations}.items() if k in KEYS})
        print(rows[-1], flush=True)
        stem.with_suffix(".json").write_text(json.dumps(dict(checkpoint=ckpt, data=data, n=n, seed=seed, **host, rows=rows), indent=1))
    print(format_table(rows, KEYS))
    plot(rows, stem.with_suffix(".png"), f"{Path(ckpt).name}, {n} samples vs held-out photos ({host['cpu_capability']})")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint"); p.add_argument("data"); p.add_argument("out_dir")
    p.add_argument("--n", type=int, default=512, help="samples per setting")
    p.add_argument("--seed", type=int, default=0, help="the same starting noise for every sampler")
    a = p.parse_args()
    main(a.checkpoint, a.data, a.out_dir, a.n, a.seed)
