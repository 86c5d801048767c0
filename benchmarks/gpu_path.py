"""The GPU path users take, measured in one run on one GPU: the `fast` preset's training loop (its grids and
checkpoint cadence included) against the reference step, the checkpoint write time and its share of an hour,
64 samples' time, and the T4 path (a T4's answers: fp16 with a GradScaler) on this GPU. Prints a table and
writes gpu_path.json to --out. On a CPU it runs too (`--preset tiny --seconds 20`), which is how it is tried
before a GPU session.

    python benchmarks/gpu_path.py --data PHOTOS.npz [--seconds 75] [--t4-seconds 30] [--out benchmarks/results/gpu]
"""
import argparse, json, math, statistics, tempfile, time
from dataclasses import replace
from pathlib import Path

import torch

from landscape_diffusion.checkpoint import sample_grid, save_checkpoint
from landscape_diffusion.config import get_config, parse_duration
from landscape_diffusion.device import describe_device, pick_compile, pretend_gpu
from landscape_diffusion.train import Trainer
from train_speed import reference_module, sync


def reference_img_s(device, steps:int, batch:int=24) -> float:
    "The reference model's fp32 eager training step at batch 24, images per second after warm-up."
    ref = reference_module()
    model, diffusion = ref.UNet().to(device), ref.Diffusion(size=32, device=device)
    opt, x = torch.optim.AdamW(model.parameters(), lr=3e-4), torch.rand(batch, 3, 32, 32, device=device) * 2 - 1
    for _ in range(3): diffusion.train_step(model, opt, x)
    sync(device); t0 = time.perf_counter()
    for _ in range(steps): diffusion.train_step(model, opt, x)
    sync(device)
    return batch * steps / (time.perf_counter() - t0)


def timed_fit(cfg) -> tuple: # (trainer, the time each full epoch ended)
    "Train `cfg` to its time limit, noting when each epoch (grids and due checkpoints included) ended."
    trainer, ends = Trainer(cfg, progress="none"), []
    end_epoch = trainer.end_epoch
    trainer.end_epoch = lambda *a: (end_epoch(*a), ends.append(time.perf_counter()))[0]
    trainer.fit()
    return trainer, ends


def loop_img_s(trainer, ends) -> float:
    "Images per second from the end of the first epoch (compiling is over) to the end of the last full one."
    return len(trainer.images) * (len(ends) - 1) / (ends[-1] - ends[0]) if len(ends) > 1 else None


def checkpoint_write_s(trainer, folder:Path) -> tuple: # (median seconds, MB)
    "Median time of three atomic checkpoint writes of the trained state, and the file's size."
    times = []
    for _ in range(3):
        t0 = time.perf_counter(); save_checkpoint(folder / "checkpoint.pt", trainer.state()); times.append(time.perf_counter() - t0)
    return statistics.median(times), (folder / "checkpoint.pt").stat().st_size / 1e6


def sample_s(trainer, steps:int, n:int=64) -> float:
    "Seconds to draw `n` grid samples with DDIM-`steps` (eta 0) from the EMA weights."
    cfg = replace(trainer.cfg, sample_n=n, sampler="ddim", sample_steps=steps, sample_eta=0.0)
    with trainer.autocast():
        sample_grid(trainer.sampling_model, trainer.diffusion, cfg, trainer.device)  # warm-up
        sync(trainer.device); t0 = time.perf_counter()
        sample_grid(trainer.sampling_model, trainer.diffusion, cfg, trainer.device)
        sync(trainer.device)
    return time.perf_counter() - t0


def t4_path(args, folder:Path) -> dict:
    "The preset as a T4 runs it, on this GPU with a T4's answers: the precision and scaler chosen, steps/s, the loss."
    with pretend_gpu("Tesla T4 (answers of)", (7, 5)) as t4:
        cfg = get_config(args.preset, data=args.data, epochs=10_000, time_limit=f"{args.t4_seconds}s", compile="off",
                         sample_every=10_000, out=str(folder / "t4"))
        would_compile = pick_compile(t4, "auto", "fp16")
        trainer = Trainer(cfg, progress="none")
        chosen = dict(precision=trainer.precision, grad_scaler=trainer.scaler is not None, choices=trainer.choices,
                      compile_auto_would_be=would_compile)
        trainer.fit()
    loss = trainer.history["loss"][-1] if trainer.history["loss"] else None
    return dict(**chosen, steps_per_s=trainer.step / trainer.stopped_after_s, last_loss=loss,
                loss_finite=loss is not None and math.isfinite(loss),
                note="compile off here: Inductor would compile for the real GPU, not a T4")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="photos (.npz or a folder)")
    p.add_argument("--preset", default="fast")
    p.add_argument("--seconds", type=float, default=75, help="training time of the loop measurement, compiling included")
    p.add_argument("--t4-seconds", type=float, default=30)
    p.add_argument("--reference-steps", type=int, default=30)
    p.add_argument("--out", default="benchmarks/results/gpu")
    args = p.parse_args()
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = get_config(args.preset, data=args.data, epochs=100_000, time_limit=f"{args.seconds}s", out=str(tmp / "loop"))
        trainer, ends = timed_fit(cfg)
        device = trainer.device
        ref = reference_img_s(device, args.reference_steps)
        loop = loop_img_s(trainer, ends)
        write_s, mb = checkpoint_write_s(trainer, tmp)
        every_s = parse_duration(cfg.checkpoint_every, "checkpoint_every")
        result = dict(device=describe_device(device), choices=trainer.choices, preset=args.preset, batch=cfg.batch_size,
                      reference_img_s=ref, loop_img_s=loop, loop_x_reference=loop and loop / ref, full_epochs=len(ends),
                      grids_in_loop=sum(1 for g in trainer.history["grids"] if "_step_" not in g),
                      checkpoint_write_s=write_s, checkpoint_mb=mb, checkpoint_every=cfg.checkpoint_every,
                      checkpoint_share=write_s / every_s if every_s else None,
                      samples64_ddim250_s=sample_s(trainer, min(250, cfg.steps)), samples64_ddim50_s=sample_s(trainer, min(50, cfg.steps)),
                      t4_path=t4_path(args, tmp) if device.type == "cuda" else dict(skipped="needs a CUDA GPU"))
    share = result["checkpoint_share"]
    rows = [("reference step (fp32 eager, batch 24)", f"{ref:,.0f} img/s"),
            (f"{args.preset} training loop, grids and checkpoint cadence included",
             f"{loop:,.0f} img/s ({loop / ref:.2f}x)" if loop else "fewer than 2 epochs: give more --seconds"),
            ("checkpoint write", f"{write_s:.2f} s for {mb:.0f} MB" + (f": {100 * share:.2f}% of every {cfg.checkpoint_every}" if share else "")),
            ("64 samples, DDIM-250 / DDIM-50", f"{result['samples64_ddim250_s']:.2f} s / {result['samples64_ddim50_s']:.2f} s"),
            ("T4 path (a T4's answers on this GPU)", ", ".join(f"{k} {v}" for k, v in result["t4_path"].items() if k != "note"))]
    print(result["device"] + "; " + result["choices"])
    for name, value in rows: print(f"{name:<62} {value}")
    (out / "gpu_path.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__": main()
