"""Sample quality of the `fast` preset against the `seed` preset (the reference recipe) at equal image passes.

Both presets train the same UNet on the same photos for the same number of image passes, each with its own
recipe (seed: batch 24, lr 3e-4, fp32, no warm-up/clipping/EMA; fast: batch 128, lr 4e-4 with warm-up, grad
clipping, EMA, mixed precision), and are then sampled twice: with the sampler each preset ships for its grids,
and with one common sampler so that only the training differs. Each sample set is scored against the training
photos with the offline metric (sliced Wasserstein distance of Laplacian-pyramid patches, lower is better)
and the memorisation check, and saved as a grid. Prints a table and writes
benchmarks/results/quality_<device>_<passes>/{quality.json, <preset>_<sampler>.png}.

On a GPU use the default model; on a CPU pass smaller `--widths` so that it finishes (the presets' recipes
are unchanged, only the network is smaller for both):

    python benchmarks/quality.py --data ../shared/data/landscapes32_train.npz --passes 100000 \\
        --widths 32,64,64,64 --bottleneck 128 --attn-at 4,8 --groups 8
"""
import argparse, json, math, shutil, time
from pathlib import Path

import torch

from landscape_diffusion.data import load_images
from landscape_diffusion.evaluate import evaluate_images, format_table, to_uint8
from landscape_diffusion.checkpoint import sample_images, save_grid
from landscape_diffusion.config import get_config
from landscape_diffusion.train import train

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("seed", "fast")
COMMON_SAMPLER = dict(sampler="ddim", steps=50, eta=1.0)  # the stochastic DDIM that was clean after short training


def ints(text): return tuple(int(v) for v in text.split(","))


def shipped_sampler(cfg):
    "The sampler a preset draws its grids with."
    return dict(sampler=cfg.sampler, steps=cfg.sample_steps, eta=cfg.sample_eta)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="image folder or .npz of training photos")
    ap.add_argument("--passes", type=int, default=100_000, help="image passes for each preset")
    ap.add_argument("--n", type=int, default=256, help="samples per sampler")
    ap.add_argument("--widths", type=ints, default=None)
    ap.add_argument("--bottleneck", type=int, default=None)
    ap.add_argument("--attn-at", type=ints, default=None)
    ap.add_argument("--groups", type=int, default=None)
    ap.add_argument("--keep-runs", action="store_true", help="keep the checkpoints (large for the default model)")
    args = ap.parse_args()
    real, _ = load_images(args.data, 32)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    out = ROOT / "benchmarks" / "results" / f"quality_{device}_{args.passes}"
    out.mkdir(parents=True, exist_ok=True)
    model = {k: v for k, v in dict(widths=args.widths, bottleneck=args.bottleneck, attn_at=args.attn_at, groups=args.groups).items() if v is not None}
    g = torch.Generator().manual_seed(0)
    floor = evaluate_images(real[torch.randperm(len(real), generator=g)[:args.n]], real, metrics=("swd",))
    rows = [dict(preset="(training photos)", sampler=f"{args.n} of them vs all: the metric's floor", **floor)]
    for preset in PRESETS:
        epochs = math.ceil(args.passes / len(real))
        cfg = get_config(preset, data=args.data, out=str(out / f"run_{preset}"), epochs=epochs, sample_every=epochs, **model)
        t = time.perf_counter()
        trainer = train(cfg, progress="lines")
        train_s = time.perf_counter() - t
        ckpt = Path(cfg.out) / "checkpoint.pt"
        for name, sampler in (("shipped", shipped_sampler(cfg)), ("common", COMMON_SAMPLER)):
            t = time.perf_counter()
            images = sample_images(ckpt, args.n, seed=0, **sampler)
            sample_s = time.perf_counter() - t
            grid = save_grid(images[:64], out / f"{preset}_{sampler['sampler']}{sampler['steps']}_eta{sampler['eta']}.png")
            scores = evaluate_images(to_uint8(images), real, metrics=("swd", "memorisation"))
            rows.append(dict(preset=preset, sampler=f"{name}: {sampler['sampler']}-{sampler['steps']} eta {sampler['eta']}",
                             passes=trainer.step * cfg.batch_size, steps=trainer.step, batch=cfg.batch_size,
                             final_epoch_loss=trainer.history["epoch_loss"][-1], train_s=train_s, sample_s=sample_s,
                             grid=grid.name, **{k: v for k, v in scores.items() if k.startswith(("swd", "memo"))}))
        if not args.keep_runs: shutil.rmtree(cfg.out)
    print(format_table(rows, ["preset", "sampler", "passes", "steps", "final_epoch_loss", "train_s", "sample_s", "swd_mean", "swd_32px", "swd_16px", "memorisation_min_ratio"]))
    (out / "quality.json").write_text(json.dumps(dict(device=device, data=str(args.data), n_real=len(real), n=args.n,
                                                      model=model or "default", rows=rows), indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
