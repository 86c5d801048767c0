"The main job as README gives it: the cpu-demo preset's default run (about five minutes on two cores) learns sky above ground."
import subprocess
import sys

from landscape_diffusion.data import synthetic_landscapes
from landscape_diffusion.checkpoint import sample_images


def brightness_gap(images):
    "Mean brightness of the top third minus the bottom third, images in [-1, 1]."
    third = images.shape[-1] // 3
    b = images.float().mean(1)
    return (b[:, :third].mean() - b[:, -third:].mean()).item()


def test_cpu_demo_default_run_shows_sky_above_ground(tmp_path):
    out = tmp_path / "cpu-demo"
    r = subprocess.run([sys.executable, "-m", "landscape_diffusion", "train",
                        "--preset", "cpu-demo", "--data", "synthetic", "--out", str(out), "--progress", "lines"],
                       capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert (out / "samples.png").exists() and (out / "loss.png").exists()
    data_gap = brightness_gap(synthetic_landscapes(256, 32).float() / 127.5 - 1)
    samples = sample_images(out / "checkpoint.pt", n=64, sampler="ddim", steps=50, eta=1.0, seed=0)  # as the preset's grids
    gap = brightness_gap(samples)
    assert gap > 0.4 * data_gap, (gap, data_gap)
    top_brighter = (samples.mean(1)[:, :10].mean((1, 2)) > samples.mean(1)[:, -10:].mean((1, 2))).float().mean().item()
    assert top_brighter > 0.7, top_brighter
