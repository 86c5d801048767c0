"""Sample quality per image pass on real photos, for several training recipes, scored on held-out photos.

Each recipe trains the same CPU-size UNet on the training part of the photos (every 10th photo is held out and
never trained on), stopping at each milestone of image passes to draw `--n` samples with the recipe's own grid
sampler and score them against the held-out photos: sliced Wasserstein distance of Laplacian-pyramid patches
(the library's offline metric, lower is better), colour statistics (channel means and spreads, HSV
saturation) and the share of samples whose top third is brighter than their bottom (sky above land). The floor
is the same metrics between the held-out photos and as many training photos. A recipe is `cpu-demo` (the base)
with one change at a time, so each change is measured alone. Prints a table, writes
benchmarks/results/quality_per_pass_<capability>/{quality_per_pass.json, swd.png, <recipe>.png}; rows of
recipes not run this time are kept from the earlier JSON.

    python benchmarks/quality_per_pass.py --data ../shared/data/landscapes32_train.npz --milestones 8000 16000 32000 \\
        [--recipes base cosine lr-decay ...]
"""
import argparse, dataclasses, json, shutil, tempfile, time
from pathlib import Path

import torch

from landscape_diffusion.checkpoint import sample_images, save_grid
from landscape_diffusion.config import get_config
from landscape_diffusion.data import load_part
from landscape_diffusion.device import cpu_capability
from landscape_diffusion.evaluate import evaluate_images, format_table, to_uint8, top_brighter
from landscape_diffusion.train import train

ROOT = Path(__file__).resolve().parents[1]
BASE = dict(preset="cpu-demo")  # the CPU recipe: 1.5 M UNet, batch 16, lr 2e-3, EMA 0.995, DDIM-50 eta 1 grids
RECIPES = {  # one change each against the base
    "base": {},
    "cosine": dict(schedule="cosine"),
    "ema-0.999": dict(ema_decay=0.999),
    "batch-32": dict(batch_size=32),
    "lr-1e-3": dict(lr=1e-3),
    "eta-0.5": dict(sample_eta=0.5),
    "v": dict(prediction="v"),
    "min-snr-5": dict(min_snr_gamma=5.0),
    "lr-decay": dict(lr_decay="cosine"),
    "cosine-v": dict(schedule="cosine", prediction="v"),  # the two winners together
    "cosine-v-decay": dict(schedule="cosine", prediction="v", lr_decay="cosine"),
    "cosine-v-wide": dict(schedule="cosine", prediction="v", widths=(32, 64, 128, 128)),  # 4.2 M parameters instead of 1.5 M
    "cosine-v-decay-b32": dict(schedule="cosine", prediction="v", lr_decay="cosine", batch_size=32),  # the winner, with a larger batch
    "cosine-v-decay-attn16": dict(schedule="cosine", prediction="v", lr_decay="cosine", attn_at=(2, 4, 8)),  # and with attention at 16x16 too
    "fast": dict(preset="fast", widths=(16, 32, 64, 64), bottleneck=128, attn_at=(4, 8), groups=8),  # today's GPU recipe, same small UNet
}
METRICS = ("swd", "colour", "memorisation")
COLUMNS = ["recipe", "passes", "train_s", "swd_mean", "swd_32px", "swd_16px", "top_brighter", "saturation", "real_saturation",
           "colour_mean_error", "colour_std_error", "memorisation_min_ratio"]


def floor(held, train_part):
    "The metric between the held-out photos and as many training photos: what two sets of real photos score."
    pick = torch.randperm(len(train_part), generator=torch.Generator().manual_seed(0))[:len(held)]
    return dict(recipe="(photos: training vs held-out)", passes=0, top_brighter=top_brighter(held.float() / 127.5 - 1),
                **evaluate_images(train_part[pick], held, METRICS[:2]))


def run_recipe(name, data, train_part, milestones, n, held, out):
    "Train one recipe through every milestone (resuming between them), scoring samples at each."
    change = dict(RECIPES[name])
    run = Path(tempfile.mkdtemp()) / name
    cfg = get_config(change.pop("preset", BASE["preset"]), data=data, out=str(run), sample_every=10**6, **change)
    fresh = cfg.lr_decay != "none"  # a decaying rate reaches zero at its run's last epoch: each milestone is a run of its own
    rows, trained_s = [], 0.0
    for passes in milestones:
        epochs = max(1, round(passes / len(train_part)))
        if fresh: shutil.rmtree(run, ignore_errors=True); trained_s = 0.0
        t = time.perf_counter()
        train(dataclasses.replace(cfg, epochs=epochs), resume=(run / "checkpoint.pt").exists(), progress="none")
        trained_s += time.perf_counter() - t
        images = sample_images(run / "checkpoint.pt", n, cfg.sampler, cfg.sample_steps, seed=0, eta=cfg.sample_eta)
        save_grid(images[:64], out / f"{name}_{passes}.png")
        rows.append(dict(recipe=name, passes=epochs * len(train_part), train_s=trained_s, top_brighter=top_brighter(images),
                         **evaluate_images(to_uint8(images), held, METRICS, train=train_part)))
        print(format_table(rows[-1:], COLUMNS), flush=True)
    shutil.rmtree(run.parent)
    return rows


def plot(rows, floor_row, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, name in enumerate(dict.fromkeys(r["recipe"] for r in rows)):
        mine = [r for r in rows if r["recipe"] == name]
        ax.plot([r["passes"] for r in mine], [r["swd_mean"] for r in mine], "os^vD"[i // 10] + "-", color=f"C{i % 10}", label=name)
    ax.axhline(floor_row["swd_mean"], color="k", ls="--", lw=1, label="floor: photos vs photos")
    ax.set(xlabel="image passes", ylabel="SWD to held-out photos (lower is better)", yscale="log", title="quality per image pass")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, dpi=100, bbox_inches="tight")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the photos: an .npz or a folder (every 10th is held out)")
    ap.add_argument("--milestones", type=int, nargs="+", default=[8000, 16000, 32000], help="image passes at which to score")
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--n", type=int, default=256, help="samples per score")
    ap.add_argument("--replot", action="store_true", help="only redraw swd.png from the JSON")
    args = ap.parse_args()
    out = ROOT / "benchmarks" / "results" / f"quality_per_pass_{cpu_capability() if not torch.cuda.is_available() else 'cuda'}"
    out.mkdir(parents=True, exist_ok=True)
    result = out / "quality_per_pass.json"
    if args.replot:
        saved = json.loads(result.read_text())
        return plot(saved["rows"], saved["floor"], out / "swd.png")
    held, train_part = load_part(args.data, "held-out")[0], load_part(args.data, "train")[0]
    floor_row = floor(held, train_part)
    print(format_table([floor_row], COLUMNS), flush=True)
    earlier = json.loads(result.read_text())["rows"] if result.exists() else []  # recipes not run again keep their rows
    rows = [r for r in earlier if r["recipe"] not in args.recipes]
    for name in args.recipes:  # the table, plot and JSON are rewritten after each recipe, so a long study can be stopped
        rows += run_recipe(name, args.data, train_part, sorted(args.milestones), args.n, held, out)
        plot(rows, floor_row, out / "swd.png")
        result.write_text(json.dumps(dict(data=str(args.data), n=args.n, n_held_out=len(held), base=BASE, recipes=RECIPES,
                                          floor=floor_row, rows=rows), indent=2, default=str))
    print(format_table([floor_row] + rows, COLUMNS))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
