"The evaluate command end to end, offline: a table, a JSON file, and clear errors."
import json
import os
import subprocess
import sys

import pytest
import torch

from landscape_diffusion.config import get_config
from landscape_diffusion.train import train

CLI = [sys.executable, "-m", "landscape_diffusion"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tiny"
    train(get_config("tiny", epochs=1, out=str(out)), progress="none")
    return out / "checkpoint.pt"


def test_evaluate_prints_a_table_and_writes_json(checkpoint, tmp_path):
    out = tmp_path / "eval.json"
    r = subprocess.run(CLI + ["evaluate", "--ckpt", str(checkpoint), "--data", "synthetic", "--n-synthetic", "300", "--n", "40",
                              "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "swd_mean" in r.stdout and "memorisation_min_ratio" in r.stdout
    res = json.loads(out.read_text())
    assert res["n"] == 40 and res["sampler"] == "ddim" and res["steps"] == 5 and res["checkpoint"] == str(checkpoint)
    assert res["swd_mean"] > 0 and set(res) >= {"swd_32px", "swd_16px", "memorisation_median_ratio", "sample_seconds"}


@pytest.mark.parametrize("args, message", [
    (["--metrics", "fid", "--inception-weights", "/nowhere/weights.pth"], "the Inception weights file /nowhere/weights.pth does not exist"),
    (["--metrics", "swd,is"], "unknown metrics ['is']"),
])
def test_evaluate_errors_are_one_clear_line(checkpoint, args, message):
    r = subprocess.run(CLI + ["evaluate", "--ckpt", str(checkpoint), "--data", "synthetic", "--n-synthetic", "64", "--n", "4",
                              "--steps", "2", *args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_closest_pairs_figure_from_the_library():
    import matplotlib
    matplotlib.use("Agg")
    from landscape_diffusion.data import synthetic_landscapes
    from landscape_diffusion.evaluate import memorisation, show_closest_pairs
    train_set = synthetic_landscapes(50, 32, seed=1)
    generated = torch.cat([synthetic_landscapes(5, 32, seed=2), train_set[:1]])
    result = memorisation(generated, train_set)
    ax = show_closest_pairs(generated, train_set, result, k=3)
    assert "closest samples" in ax.get_title()


class RunsCode:
    "A pickle that runs a shell command when loaded: what a hostile weights file does."
    def __init__(self, marker): self.marker = marker
    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("planted", ["given", "hub-cache"])
def test_fid_never_unpickles_a_file_that_runs_code(checkpoint, tmp_path, planted):
    marker, torch_home = tmp_path / "code-ran", tmp_path / "torch-home"
    evil = torch_home / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    evil.parent.mkdir(parents=True)
    torch.save(RunsCode(marker), evil)
    args = ["--inception-weights", str(evil)] if planted == "given" else []
    r = subprocess.run(CLI + ["evaluate", "--ckpt", str(checkpoint), "--data", "synthetic", "--n-synthetic", "64", "--n", "4",
                              "--steps", "2", "--metrics", "fid", *args], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TORCH_HOME": str(torch_home)})
    assert not marker.exists(), "loading the weights ran the planted command"
    assert r.returncode == 1 and "refusing to load it" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
