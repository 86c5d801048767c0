"""Sample quality per hour of training on this machine, for recipes of several sizes, scored on held-out photos.

Issue 25's study: what users pay is wall time, so each recipe trains for a fixed number of hours (each horizon a
run of its own, since the learning rate decays to zero and the EMA averages over a span matched to that run's
length), then draws `--n` samples with the fast sampler's default and scores them against the photos the runs never
trained on (every 10th): sliced Wasserstein distance (SWD) of Laplacian-pyramid patches, colour statistics,
memorisation. The floor is the same metrics between as many training photos and the held-out ones.

One score moves with the seed that draws the samples (and the floor with the seed that picks its training photos):
at 1,024 samples by about 2 either way, as much as recipes differ. So the SWD is scored with `--seeds` seeds (4 by
default; the other metrics with seed 0) and the plot shows their mean and spread.

A run's length in epochs is planned from a short timed run of the recipe on this machine (images per second), so
that its learning-rate decay ends near the horizon; `--time-limit` caps it. Runs live in `--runs` (default
runs/recipes): a study stopped at any point (a session's end, Ctrl-C) continues where its checkpoints are with the
same command. Prints a table, writes benchmarks/results/recipes_per_hour_<device>/{recipes.json, swd.png,
<recipe>_<hours>h.png}; rows of runs not scored this time are kept from the earlier JSON.

    python benchmarks/recipes_per_hour.py --data ../shared/data/landscapes32_train.npz --hours 1 3 [--recipes ...]

A horizon is wall time on all of this machine's cores, but a model after a number of steps is the same whichever
number of threads computed it. On two cores two runs of one thread each train about 1.4x more images per second in
all than one run of two threads, so a study can plan its runs on both cores (`--plan-only`), then train them side by
side, one thread each (`--threads 1 --recipes NAME` in two shells, `--time-cap 2`): each run is still its horizon's.
Run nothing else beside a probe or a two-thread run: a second busy process slowed one from 136 to 17 images/s (2-core
AMX CPU), and a probe taken beside one planned a 1-hour run as 25 epochs instead of 91.
"""
import argparse, dataclasses, fcntl, json, math, statistics, tempfile, time
from pathlib import Path

import torch

from landscape_diffusion.checkpoint import build_model, load_checkpoint, sample_images, save_grid
from landscape_diffusion.config import get_config
from landscape_diffusion.data import load_part
from landscape_diffusion.device import cpu_capability
from landscape_diffusion.evaluate import evaluate_images, format_table, swd, swd_floor, to_uint8, top_brighter
from landscape_diffusion.train import train
from landscape_diffusion.unet import n_params

ROOT = Path(__file__).resolve().parents[1]
BASE = "cpu-photos"  # the recipe of today's pretrained file: 1.5 M UNet, cosine + v, batch 16, lr 2e-3 with decay
WIDE = dict(widths=(24, 48, 96, 96), bottleneck=192)  # 3.3 M parameters
WIDER = dict(widths=(32, 64, 128, 128), bottleneck=256)  # 5.9 M: 11.7 MB in half precision, past the 10 MB file
RECIPES = {
    "base": {},
    "wide": WIDE,
    "wide-4.3M": dict(widths=(32, 64, 96, 128), bottleneck=192),  # the largest that fits a 10 MB file
    "wider": WIDER,
    "attn-4x4": dict(attn_at=(8,)),  # attention only at 4x4: cheaper steps, more of them per hour
    "attn-16x16": dict(attn_at=(2, 4, 8)),  # attention at 16x16 too
    "b32": dict(batch_size=32, lr=3e-3),  # a larger batch with a larger rate
    "lr1e-3": dict(lr=1e-3),
}
METRICS = ("swd", "colour", "memorisation")
COLUMNS = ["recipe", "hours", "params_m", "passes", "train_s", "swd_seeds_mean", "swd_seeds_sd", "over_floor_mean",
           "swd_mean", "swd_32px", "swd_16px", "sharpness", "top_brighter",
           "saturation", "real_saturation", "colour_mean_error", "colour_std_error", "memorisation_min_ratio"]


def matched_ema(steps:int) -> float:
    "An EMA decay that averages over about the last 5% of a run's steps (at least 100): long runs average longer."
    return round(1 - 1 / max(100, 0.05 * steps), 6)


def images_per_second(cfg, n_train:int, seconds:float=60) -> float:
    "This machine's training speed for a recipe: a short run of its own (start-up included, so plans err short)."
    with tempfile.TemporaryDirectory() as tmp:
        probe = dataclasses.replace(cfg, out=str(Path(tmp) / "probe"), epochs=10**6, time_limit=f"{seconds}s",
                                    sample_every=10**6, checkpoint_every="0s")
        run = train(probe, progress="none")
    return run.step * cfg.batch_size / seconds


def plan(name:str, hours:float, data:str, n_train:int, runs:Path) -> dict:
    "The run of `name` for `hours`: its folder and config, planned once (kept in the folder's plan.json)."
    folder = runs / f"{name}-{hours:g}h"
    saved = folder / "plan.json"
    if saved.exists(): return json.loads(saved.read_text())
    change = dict(RECIPES[name])
    cfg = get_config(BASE, data=data, out=str(folder), sample_every=10, **change)
    ips = images_per_second(cfg, n_train)
    epochs = max(1, round(hours * 3600 * ips / n_train))
    steps = epochs * math.ceil(n_train / cfg.batch_size)
    p = dict(recipe=name, hours=hours, images_per_s=ips, epochs=epochs, ema_decay=matched_ema(steps), folder=str(folder),
             params_m=round(n_params(build_model(cfg)) / 1e6, 2), change={k: list(v) if isinstance(v, tuple) else v
                                                                          for k, v in change.items()})
    folder.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(p, indent=2))
    return p


def time_left(p:dict, done:int, time_cap:float) -> float:
    "Seconds a run may still train: its capped horizon less what it spent (measured, or planned for its done epochs)."
    spent = max(p.get("train_s", 0), done / p["epochs"] * p["hours"] * 3600)
    return p["hours"] * 3600 * time_cap - spent


def seed_scores(first:float, ckpt:Path, cfg, n:int, held, floors:list) -> dict:
    "The SWD of `n` samples at each seed that `floors` has a floor for (`first`: seed 0's, scored): mean, spread, ratio."
    scores = [first] + [swd(to_uint8(sample_images(ckpt, n, cfg.sampler, cfg.sample_steps, seed=s, eta=cfg.sample_eta)),
                            held)["swd_mean"] for s in range(1, len(floors))]
    ratios = [a / b for a, b in zip(scores, floors)]
    sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0
    return dict(swd_by_seed=scores, swd_seeds_mean=statistics.mean(scores), swd_seeds_sd=sd(scores),
                over_floor_mean=statistics.mean(ratios), over_floor_sd=sd(ratios))


def run_and_score(p:dict, data:str, n:int, held, train_part, out:Path, time_cap:float, floors:list) -> dict:
    "Train a planned run to its last epoch or its time cap (resuming its checkpoint), then score `n` of its samples."
    folder = Path(p["folder"])
    cfg = get_config(BASE, data=data, out=str(folder), sample_every=10, **p["change"])
    cfg = dataclasses.replace(cfg, epochs=p["epochs"], ema_decay=p["ema_decay"])
    ckpt = folder / "checkpoint.pt"
    done = load_checkpoint(ckpt).get("epoch", 0) if ckpt.exists() else 0
    left = time_left(p, done, time_cap)
    if done < p["epochs"] and left > 0:
        t = time.perf_counter()
        run = train(dataclasses.replace(cfg, time_limit=f"{left:.0f}s"), resume=ckpt.exists(), progress="lines")
        spent = json.loads((folder / "plan.json").read_text()).get("train_s", 0) + time.perf_counter() - t
        (folder / "plan.json").write_text(json.dumps({**p, "train_s": spent}, indent=2))
        if run.stopped_early and run.epoch < p["epochs"]: print(f"{folder.name}: stopped at the time cap, epoch {run.epoch}")
    p = json.loads((folder / "plan.json").read_text())
    images = sample_images(ckpt, n, cfg.sampler, cfg.sample_steps, seed=0, eta=cfg.sample_eta)
    save_grid(images[:64], out / f"{folder.name}.png")
    state = load_checkpoint(ckpt)
    scores = evaluate_images(to_uint8(images), held, METRICS, train=train_part)
    return dict(recipe=p["recipe"], hours=p["hours"], params_m=p["params_m"], passes=state["step"] * cfg.batch_size,
                train_s=p.get("train_s"), top_brighter=top_brighter(images), **scores,
                **seed_scores(scores["swd_mean"], ckpt, cfg, n, held, floors))


def floor(held, train_part, n:int, seeds:int) -> dict:
    "The metrics between `n` training photos and the held-out ones: what real photos score at this n (SWD per seed)."
    pick = torch.randperm(len(train_part), generator=torch.Generator().manual_seed(0))[:n]
    row = dict(recipe="(photos: training vs held-out)", hours=0, top_brighter=top_brighter(held.float() / 127.5 - 1),
               **evaluate_images(train_part[pick], held, METRICS[:2]))
    floors = [row["swd_mean"]] + [swd_floor(train_part, held, n, s)["swd_mean"] for s in range(1, seeds)]  # seed 0's is `pick`
    return dict(row, floor_by_seed=floors, swd_seeds_mean=statistics.mean(floors))


def add_row(result:Path, row:dict, about:dict) -> list:
    "Add `row` to the study's JSON (replacing that run's earlier row), locked: runs side by side share the file."
    with open(result.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = json.loads(result.read_text())["rows"] if result.exists() else []
        rows = [r for r in rows if (r["recipe"], r["hours"]) != (row["recipe"], row["hours"])] + [row]
        result.write_text(json.dumps(dict(about, rows=rows), indent=2, default=str))
    return rows


def plot(rows, floor_row, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, name in enumerate(dict.fromkeys(r["recipe"] for r in rows)):
        mine = sorted((r for r in rows if r["recipe"] == name), key=lambda r: r["hours"])
        ax.errorbar([r["hours"] for r in mine], [r["swd_seeds_mean"] for r in mine], [r["swd_seeds_sd"] for r in mine],
                    fmt="o-", capsize=3, color=f"C{i % 10}", label=f"{name} ({mine[0]['params_m']} M)")
    floors = floor_row["floor_by_seed"]
    ax.axhline(floor_row["swd_seeds_mean"], color="k", ls="--", lw=1, label="floor: photos vs photos")
    ax.axhspan(min(floors), max(floors), color="k", alpha=0.08, lw=0)
    ax.axhline(1.25 * floor_row["swd_seeds_mean"], color="k", ls=":", lw=1, label="target: 1.25x the floor")
    ax.set_xlim(0, max(r["hours"] for r in rows) + 0.5)
    ax.set_ylim(0, None)
    ax.set(xlabel="hours of training on this machine", ylabel="SWD to held-out photos (lower is better)",
           title=f"quality per hour of training (SWD: mean and sd of {len(floors)} sampling seeds)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, dpi=100, bbox_inches="tight")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the photos: an .npz or a folder (every 10th is held out)")
    ap.add_argument("--hours", type=float, nargs="+", default=[1, 3], help="training horizons, each a run of its own")
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--n", type=int, default=1024, help="samples per score (and training photos for the floor)")
    ap.add_argument("--seeds", type=int, default=4, help="sampling seeds per SWD score (the floor's picks too)")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "recipes"), help="where the runs live between sessions")
    ap.add_argument("--time-cap", type=float, default=1.25, help="stop a run at this multiple of its horizon")
    ap.add_argument("--replot", action="store_true", help="only redraw swd.png from the JSON")
    ap.add_argument("--plan-only", action="store_true", help="only time the recipes and plan their runs")
    ap.add_argument("--threads", type=int, help="torch threads for training and sampling (default: torch's)")
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else cpu_capability()
    out = ROOT / "benchmarks" / "results" / f"recipes_per_hour_{device}"
    out.mkdir(parents=True, exist_ok=True)
    result = out / "recipes.json"
    if args.replot:
        saved = json.loads(result.read_text())
        return plot(saved["rows"], saved["floor"], out / "swd.png")
    held, train_part = load_part(args.data, "held-out")[0], load_part(args.data, "train")[0]
    if args.plan_only:
        for hours in args.hours:
            for name in args.recipes: print(plan(name, hours, args.data, len(train_part), Path(args.runs)))
        return
    floor_row = floor(held, train_part, args.n, args.seeds)
    print(format_table([floor_row], COLUMNS), flush=True)
    for hours in sorted(args.hours):  # every recipe at the short horizon first: a partial study still compares them
        for name in args.recipes:
            p = plan(name, hours, args.data, len(train_part), Path(args.runs))
            row = run_and_score(p, args.data, args.n, held, train_part, out, args.time_cap, floor_row["floor_by_seed"])
            print(format_table([row], COLUMNS), flush=True)
            rows = add_row(result, row, dict(data=Path(args.data).name, n=args.n, n_held_out=len(held), base=BASE,
                                             device=device, recipes=RECIPES, floor=floor_row))
            plot(rows, floor_row, out / "swd.png")
    print(format_table([floor_row] + json.loads(result.read_text())["rows"], COLUMNS))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
