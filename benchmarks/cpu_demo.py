"""README's main job, timed as a user runs it: `landscape-diffusion train --preset cpu-demo --data synthetic`.

Runs the command in a fresh process (import, data, training, grids and checkpoints all counted; install not),
then checks 256 samples drawn as the run's grids: sky above ground and pixel noise (as tests/test_demo.py), colour
statistics and SWD against synthetic landscapes the run did not train on.
Results are kept per CPU capability in benchmarks/results/cpu_demo.json, each with its final grid upscaled
(benchmarks/results/cpu_demo_<capability>.png). --avx2 runs the job as an AVX2-only CPU would (torch and oneDNN
limited to AVX2 kernels, so float32), on any x86 machine; extra arguments go to `train`, to time another recipe.

    python benchmarks/cpu_demo.py [--avx2] [--label NAME] [-- --epochs 30 --batch-size 64 ...]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def capability(env):
    "The library's name for the CPU's capability, read in a process with `env` (the job's own)."
    code = "from landscape_diffusion.device import cpu_capability; print(cpu_capability())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()


def checks(ckpt, n=256):
    """The demo test's measurements, the colour statistics and SWD of `n` samples drawn as the run's grids are,
    against `n` synthetic landscapes of another seed than the training set's."""
    from landscape_diffusion.checkpoint import sample_images
    from landscape_diffusion.synthetic import synthetic_landscapes
    from landscape_diffusion.evaluate import colour, pixel_noise, sky_ground_gap, swd, to_uint8, top_brighter
    data = synthetic_landscapes(n, 32, seed=1)
    samples = sample_images(ckpt, n=n, seed=0)
    real = data.float() / 127.5 - 1
    c = colour(to_uint8(samples), data)
    return dict(sky_ground_gap=sky_ground_gap(samples), data_sky_ground_gap=sky_ground_gap(real),
                top_brighter=top_brighter(samples), pixel_noise=pixel_noise(samples), data_pixel_noise=pixel_noise(real),
                saturation=c["saturation"], data_saturation=c["real_saturation"], colour_std_error=c["colour_std_error"],
                colour_mean_error=c["colour_mean_error"], swd=swd(to_uint8(samples), data)["swd_mean"],
                data_swd=swd(synthetic_landscapes(n, 32, seed=2), data)["swd_mean"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--avx2", action="store_true", help="limit torch and oneDNN to AVX2 kernels, as on a CPU without AVX-512")
    ap.add_argument("--label", default="cpu-demo", help="name of the recipe in the results")
    ap.add_argument("train_args", nargs="*", help="extra options for `train` (after --)")
    args = ap.parse_args()
    env = {**os.environ, **(AVX2_ONLY if args.avx2 else {})}
    cap = capability(env)
    out = Path(tempfile.mkdtemp()) / "cpu-demo"
    cmd = [sys.executable, "-m", "landscape_diffusion", "train", "--preset", "cpu-demo", "--data", "synthetic",
           "--out", str(out), "--progress", "lines", *args.train_args]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    wall = time.perf_counter() - t0
    row = dict(label=args.label, cpu_capability=cap, cores=os.cpu_count(), wall_s=round(wall, 1),
               train_args=args.train_args, **checks(out / "checkpoint.pt"))
    results_dir = ROOT / "benchmarks" / "results"
    grid = results_dir / f"cpu_demo_{cap}{'' if args.label == 'cpu-demo' else '_' + args.label}.png"
    shutil.copy(out / "samples.png", grid)  # saved grids are enlarged already
    row["grid"] = str(grid.relative_to(ROOT))
    path = results_dir / "cpu_demo.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[f"{args.label} on {cap}"] = row
    path.write_text(json.dumps(results, indent=2))
    print(f"\n{args.label} on {cap} ({os.cpu_count()} cores): {wall:.0f} s wall; sky-ground gap {row['sky_ground_gap']:.2f} "
          f"(data {row['data_sky_ground_gap']:.2f}), top brighter {row['top_brighter']:.2f}, pixel noise "
          f"{row['pixel_noise']:.3f} (data {row['data_pixel_noise']:.3f}), saturation {row['saturation']:.2f} (data "
          f"{row['data_saturation']:.2f}), SWD {row['swd']:.0f} (data to data {row['data_swd']:.0f}); grid {grid}; wrote {path}")


if __name__ == "__main__":
    main()
