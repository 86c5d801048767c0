"Hostile or careless input (issue 17): nothing overwritten, no second trainer in a run folder, impossible settings refused."
import subprocess
import sys
import time

import pytest
from PIL import Image


CLI = [sys.executable, "-m", "landscape_diffusion"]


def cli(*args, timeout=300):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rel") / "run"
    assert cli("train", "--preset", "tiny", "--epochs", 1, "--out", out, "--progress", "none").returncode == 0
    return out


@pytest.mark.parametrize("option", ["--out", "--save-npz"])
def test_sample_never_writes_over_its_checkpoint(run, option):
    ckpt = run / "checkpoint.pt"
    before = ckpt.read_bytes()
    args = ["--out", run / "grid.png", "--save-npz", ckpt] if option == "--save-npz" else ["--out", ckpt]
    r = cli("sample", "--ckpt", ckpt, "--n", 2, *args)
    assert r.returncode == 2 and "input" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert ckpt.read_bytes() == before


def test_evaluate_never_writes_over_its_checkpoint(run):
    ckpt = run / "checkpoint.pt"
    before = ckpt.read_bytes()
    r = cli("evaluate", "--ckpt", ckpt, "--data", "synthetic", "--n", 4, "--json", ckpt)
    assert r.returncode == 2 and ckpt.read_bytes() == before, r.stderr


def test_sample_writes_the_format_its_name_says(run, tmp_path):
    assert cli("sample", "--ckpt", run / "checkpoint.pt", "--n", 4, "--out", tmp_path / "grid.jpg").returncode == 0
    assert Image.open(tmp_path / "grid.jpg").format == "JPEG"
    r = cli("sample", "--ckpt", run / "checkpoint.pt", "--n", 4, "--out", tmp_path / "grid.gif")
    assert r.returncode == 2 and "ending in .png or .jpg or .jpeg" in r.stderr


def test_a_second_trainer_into_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "shared"
    first = subprocess.Popen(CLI + ["train", "--preset", "tiny", "--n-synthetic", "2048", "--epochs", "3", "--out", str(out),
                                    "--progress", "lines"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in first.stdout:  # the first is training: it holds the folder
        if " step " in line: break
    second = cli("train", "--preset", "tiny", "--out", out)  # a fresh run into the same folder, before any checkpoint exists
    assert second.returncode == 1 and "another training process is writing to" in second.stderr, second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    first.kill(); first.wait()


@pytest.mark.parametrize("args, message", [
    (["--warmup-steps", "-5"], "warmup_steps cannot be negative"),
    (["--grad-clip", "-1"], "grad_clip cannot be negative"),
    (["--lr", "nan"], "lr must be a finite number"),
    (["--widths", "0,0"], "widths must be positive"),
    (["--groups", "3"], "groups (3) must divide"),
    (["--weight-decay", "-1"], "weight_decay cannot be negative"),
    (["--seed", "-1"], "seed cannot be negative"),
    (["--beta-start", "2"], "0 < beta_start < beta_end < 1"),
    (["--attn-at", "3"], "attn_at must be among the downsampling factors [1, 2, 4]"),
    (["--sample-eta", "nan"], "sample_eta must be a number >= 0"),
    (["--size", "100000"], "size must be at most 512"),
])
def test_impossible_settings_are_refused_before_anything_runs(tmp_path, args, message):
    t0 = time.perf_counter()
    r = cli("train", "--preset", "tiny", "--out", tmp_path / "run", *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "run").exists() and time.perf_counter() - t0 < 60


def test_data_refuses_sizes_that_cannot_fit(tmp_path):
    folder = tmp_path / "photos"; folder.mkdir()
    Image.new("RGB", (40, 30)).save(folder / "a.jpg")
    r = cli("data", folder, "--size", 100000, "--cache-dir", tmp_path / "cache")
    assert r.returncode == 2 and "--size must be between 8 and 512" in r.stderr


def test_avx2_only_cpu_is_seen_as_such_and_trains_in_float32():
    "With the kernels limited to AVX2 (as on most laptops), the library must not pick bf16, which such CPUs only emulate, slowly."
    import os
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    code = ("import torch; from landscape_diffusion.device import cpu_capability, pick_precision, describe_device; "
            "print(cpu_capability(), pick_precision(torch.device('cpu')), describe_device(torch.device('cpu')))")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    capability, precision, *_ = r.stdout.split()
    assert capability == "AVX2" and precision == "fp32", r.stdout
    assert "AVX2" in r.stdout.split(" ", 2)[2]
