"""Training and sampling speed of the library against the reference model and step, same process, same run.

The reference is ../shared/reference/seed_ref.py (the seed project's UNet with nn.MultiheadAttention and its
fp32 eager training step at batch 24). Each training configuration runs in its own child process, so the
peak resident memory (CPU) or peak allocated memory (CUDA) is that configuration's alone. Throughput is the
median of several timed windows after warm-up. The configurations run in interleaved rounds (reference, ours,
reference, ours, ...) and each ratio is the median of the per-round ratios, so a machine that slows down or
speeds up during the run (shared cloud CPUs do) moves both sides of a ratio alike. Prints a table and writes
benchmarks/results/train_speed_<device>_<sizes>px.json, where a CPU's name carries its capability (cpu-AVX2,
cpu-AVX512-BF16, cpu-AMX, ...): float32-only CPUs and bf16 CPUs differ 3-5x, so their results are kept apart.
To measure an AVX2-only CPU on a machine with AVX-512, run it with ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2.

    python benchmarks/train_speed.py [--sizes 32 64] [--rounds 3] [--windows 3] [--steps 3] [--compile]
"""
import argparse, json, multiprocessing as mp, os, platform, resource, statistics, sys, tempfile, time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
# beside the checkout; SEED_REF_DIR where ../shared does not travel (a GPU machine gets the repository alone)
REFERENCE = Path(os.environ.get("SEED_REF_DIR", ROOT.parent / "shared" / "reference"))
SEED_IMAGE_PASSES = 500 * 4_300  # the reference schedule: 500 epochs of ~4,300 photos


def reference_module():
    sys.path.insert(0, str(REFERENCE))
    import seed_ref
    return seed_ref


def device_name(device):
    if device.type == "cuda": return torch.cuda.get_device_name(device)
    from landscape_diffusion.device import cpu_capability
    return f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, {cpu_capability()}"


def device_tag(device):
    "The device part of the results' file name: 'cuda', or 'cpu-' and the CPU's capability."
    if device.type == "cuda": return "cuda"
    from landscape_diffusion.device import cpu_capability
    return f"cpu-{cpu_capability()}"


def sync(device):
    if device.type == "cuda": torch.cuda.synchronize(device)


def make_step(kind, size, batch, device):
    "A zero-argument training step for one configuration, and its batch size."
    x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    if kind.startswith("reference"):
        if kind == "reference+keep-memory":  # the reference with the library's CPU allocator setting, for comparison
            from landscape_diffusion.device import keep_freed_cpu_memory
            keep_freed_cpu_memory()
        ref = reference_module()
        model = ref.UNet().to(device)
        diff = ref.Diffusion(size=size, device=device)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
        return lambda: diff.train_step(model, opt, x)
    from landscape_diffusion.config import get_config
    from landscape_diffusion.train import Trainer
    preset, *opts = kind.split("+")
    overrides = dict(data="synthetic", n_synthetic=batch, size=size, batch_size=batch, out=tempfile.mkdtemp())
    if "compile" in opts: overrides["compile"] = "on"
    trainer = Trainer(get_config(preset, **overrides), progress="none")
    batch_x = trainer.images[:batch].float() / 127.5 - 1
    return lambda: trainer.train_step(batch_x)


def measure(kind, size, batch, device, windows, steps, queue):
    torch.manual_seed(0)
    device = torch.device(device)
    step = make_step(kind, size, batch, device)
    if device.type == "cuda": torch.cuda.reset_peak_memory_stats(device)
    t = time.perf_counter()
    for _ in range(2): step()
    sync(device); warmup = time.perf_counter() - t
    rates = []
    for _ in range(windows):
        sync(device); t = time.perf_counter()
        for _ in range(steps): step()
        sync(device); rates.append(steps * batch / (time.perf_counter() - t))
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put(dict(img_s=statistics.median(rates), warmup_s=warmup, peak_mb=peak / 2**20))


def in_child(*args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=measure, args=(*args, q)); p.start()
    result = q.get(); p.join()
    return result


@torch.inference_mode()
def reference_ddpm_step_time(n, size, device, steps=5):
    "Seconds per step of the reference project's 1000-step DDPM sampler (fp32 eager), timed over a few steps."
    ref = reference_module()
    model, d = ref.UNet().to(device).eval(), ref.Diffusion(size=size, device=device)
    x = torch.randn(n, 3, size, size, device=device)
    def one(i):
        nonlocal x
        t = torch.full((n,), i, device=device, dtype=torch.long)
        eps = model(x, t)
        a, ab, b = d.alpha[t][:, None, None, None], d.ahat[t][:, None, None, None], d.beta[t][:, None, None, None]
        x = 1 / a.sqrt() * (x - (1 - a) / (1 - ab).sqrt() * eps) + b.sqrt() * torch.randn_like(x)
    one(999); sync(device)
    t0 = time.perf_counter()
    for i in range(998, 998 - steps, -1): one(i)
    sync(device)
    return (time.perf_counter() - t0) / steps


def our_sampling_time(n, size, sampler, steps, timed_steps=None):
    "Seconds for our sampler as the library ships it (default UNet, the library's device and autocast choices)."
    from landscape_diffusion.diffusion import Diffusion
    from landscape_diffusion.device import autocast_for, keep_freed_cpu_memory, pick_device
    from landscape_diffusion.unet import UNet
    device = pick_device()
    if device.type == "cpu": keep_freed_cpu_memory()
    model, d = UNet().to(device).eval(), Diffusion()
    with autocast_for(device):
        d.sample(model, n, size, "ddim", 2, device=device); sync(device)
        t0 = time.perf_counter()
        d.sample(model, n, size, sampler, timed_steps or steps, device=device); sync(device)
    return (time.perf_counter() - t0) * steps / (timed_steps or steps)


def all_in_hours(result, decode_s):
    """The seed schedule with its sample grids and data loading: the reference drew a DDPM-1000 grid every epoch
    (taken here as 64 images, as timed), the fast preset draws a 64-image DDIM-50 grid every 10 epochs and decodes
    the photos once (the extrapolation in benchmarks/results/data_decode.json, from whichever machine ran it last)."""
    rows = {f"{r['config']}@b{r['batch']}": r for r in result["training"] if r["size"] == 32}
    s, train = result["sampling_64_at_32px_s"], lambda key: SEED_IMAGE_PASSES / rows[key]["img_s"]
    fast = max((k for k in rows if k.startswith("fast@")), key=lambda k: rows[k]["img_s"])
    return {"reference@b24": (train("reference@b24") + 500 * s["reference_ddpm1000_extrapolated"]) / 3600,
            fast: (train(fast) + 50 * s["ours_ddim50"] + decode_s) / 3600}


def summarise(kind, size, batch, runs, base_runs):
    "One row: medians over rounds, the ratio to the reference taken round by round."
    ratios = [r["img_s"] / b["img_s"] for r, b in zip(runs, base_runs)]
    return dict(config=kind, size=size, batch=batch, img_s=statistics.median(r["img_s"] for r in runs),
                img_s_per_round=[r["img_s"] for r in runs], warmup_s=statistics.median(r["warmup_s"] for r in runs),
                peak_mb=max(r["peak_mb"] for r in runs), speedup=statistics.median(ratios),
                speedup_range=[min(ratios), max(ratios)],
                memory_ratio=max(r["peak_mb"] for r in runs) / max(b["peak_mb"] for b in base_runs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of all configurations")
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="steps per timed window")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile on the CPU (about 90 s to compile)")
    ap.add_argument("--fast-batch", type=int, default=None, help="batch of the fast preset (default: the preset's)")
    ap.add_argument("--no-sampling", action="store_true")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from landscape_diffusion.config import PRESETS
    fast_batch = args.fast_batch or PRESETS["fast"]["batch_size"]
    print(f"device: {device_name(device)}, torch {torch.__version__}", flush=True)
    # reference; our model and step in fp32 eager (the seed preset); the fast preset's device choices at the
    # reference batch and at its own batch.
    kinds = [("reference", 24)]
    if device.type == "cpu": kinds.append(("reference+keep-memory", 24))
    kinds += [("seed", 24), ("fast", 24)]
    if args.compile and device.type == "cpu": kinds.append(("fast+compile", 24))  # on CUDA the fast preset compiles already
    kinds.append(("fast", fast_batch))
    rows = []
    for size in args.sizes:
        runs = {k: [] for k in kinds}
        for round_ in range(args.rounds):
            for kind, batch in kinds:
                r = in_child(kind, size, batch, str(device), args.windows, args.steps)
                runs[kind, batch].append(r)
                print(f"round {round_ + 1} {size:>4} {kind:<22} b{batch:<4} {r['img_s']:9.1f} img/s  peak {r['peak_mb']:8.0f} MB  warm-up {r['warmup_s']:6.1f} s", flush=True)
        for kind, batch in kinds:
            rows.append(summarise(kind, size, batch, runs[kind, batch], runs[kinds[0]]))
    print(f"\n{'size':>4} {'config':<22} {'batch':>5} {'img/s':>8} {'x reference':>12} {'(range)':>13} {'peak MB':>8} {'x memory':>8}")
    for r in rows:
        lo, hi = r["speedup_range"]
        print(f"{r['size']:>4} {r['config']:<22} {r['batch']:>5} {r['img_s']:8.1f} {r['speedup']:12.2f} {f'({lo:.2f}-{hi:.2f})':>13} {r['peak_mb']:8.0f} {r['memory_ratio']:8.2f}")
    result = dict(device=device_name(device), torch=torch.__version__, training=rows)
    if device.type == "cpu":
        from landscape_diffusion.device import cpu_capability
        result["cpu_capability"] = cpu_capability()
    result["seed_schedule_hours"] = {r["config"] + f"@b{r['batch']}": SEED_IMAGE_PASSES / r["img_s"] / 3600 for r in rows if r["size"] == 32}
    if not args.no_sampling:
        n = 64
        ref_step = reference_ddpm_step_time(n, 32, device)
        ours_ddim = our_sampling_time(n, 32, "ddim", 50)
        ours_ddpm = our_sampling_time(n, 32, "ddpm", 1000, timed_steps=20)
        result["sampling_64_at_32px_s"] = dict(reference_ddpm1000_extrapolated=ref_step * 999, ours_ddim50=ours_ddim,
                                               ours_ddpm1000_extrapolated=ours_ddpm, speedup_ddim50=ref_step * 999 / ours_ddim,
                                               speedup_ddpm1000=ref_step * 999 / ours_ddpm)
        decode = ROOT / "benchmarks" / "results" / "data_decode.json"
        decode_s = json.loads(decode.read_text())["results"]["extrapolated: 4,300 photos (s)"] if decode.exists() else 0.0
        if 32 in args.sizes: result["seed_schedule_all_in_hours"] = all_in_hours(result, decode_s)
    print(json.dumps({k: v for k, v in result.items() if k != "training"}, indent=1))
    out = ROOT / "benchmarks" / "results" / f"train_speed_{device_tag(device)}_{'_'.join(map(str, args.sizes))}px.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
