"Data-parallel training through accelerate/DDP, tested with two CPU processes (gloo), and gradient accumulation."
import os
import signal
import subprocess
import sys

import psutil
import pytest
import torch

from landscape_diffusion.checkpoint import load_checkpoint
from landscape_diffusion.config import get_config
from landscape_diffusion.train import train

RUN = ["train", "--preset", "tiny", "--progress", "lines", "--n-synthetic", "384",
       "--batch-size", "32", "--epochs", "2", "--log-every", "1", "--sample-every", "100", "--precision", "fp32"]


def launch(out, processes, *extra):
    "The command line under torchrun (gloo on the CPU) or as one plain process."
    if processes == 1: prefix = [sys.executable, "-m", "landscape_diffusion"]
    else: prefix = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), "-m", "landscape_diffusion"]
    return prefix + RUN + ["--out", str(out), *extra]


def run(cmd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def assert_same_weights(a, b, atol=1e-5):
    sa, sb = load_checkpoint(a), load_checkpoint(b)
    for part in ("model", "ema"):
        for k, v in sa[part].items():
            assert torch.allclose(v.float(), sb[part][k].float(), atol=atol, rtol=1e-4), (part, k, (v.float() - sb[part][k].float()).abs().max())


def test_two_processes_match_one_and_write_once(tmp_path):
    run(launch(tmp_path / "one", 1))
    two = run(launch(tmp_path / "two", 2))
    assert_same_weights(tmp_path / "one" / "checkpoint.pt", tmp_path / "two" / "checkpoint.pt")
    assert two.count("checkpoint saved") == 2  # one line per epoch: only the main process writes
    assert two.count("data: synthetic") == 1
    assert sorted(p.name for p in (tmp_path / "two" / "grids").iterdir()) == ["epoch_0002.png"]
    assert not list((tmp_path / "two").glob(".*.tmp"))
    losses = lambda name: load_checkpoint(tmp_path / name / "checkpoint.pt")["history"]["epoch_loss"]
    assert losses("two") == pytest.approx(losses("one"), rel=1e-4)


def test_killed_two_process_run_resumes(tmp_path):
    run(launch(tmp_path / "straight", 1))
    out = tmp_path / "killed"
    proc = subprocess.Popen(launch(out, 2), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    for line in proc.stdout:  # 12 steps per epoch: step 15 is inside epoch 2
        if line.startswith("epoch 2/2 step 15 "):
            launcher = psutil.Process(proc.pid)  # torchrun starts its workers in sessions of their own: kill each
            for p in [launcher, *launcher.children(recursive=True)]: p.send_signal(signal.SIGKILL)  # the whole job dies at once
            break
    proc.wait(timeout=60)
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    resumed = run(launch(out, 2, "--resume"))
    assert "resuming" in resumed and "epoch 2/2:" in resumed, resumed
    assert_same_weights(tmp_path / "straight" / "checkpoint.pt", out / "checkpoint.pt")


def test_gradient_accumulation_follows_the_same_optimisation(tmp_path):
    common = dict(sample_every=100, precision="fp32", warmup_steps=100, grad_clip=1.0)  # as the test ran under cpu-demo
    train(get_config("tiny", out=str(tmp_path / "a"), **common), progress="none")
    train(get_config("tiny", out=str(tmp_path / "b"), grad_accum=4, **common), progress="none")
    assert_same_weights(tmp_path / "a" / "checkpoint.pt", tmp_path / "b" / "checkpoint.pt")


def test_processes_started_from_a_notebook_match_one_process(tmp_path, monkeypatch):
    from landscape_diffusion.train import TrainingError, train_in_processes
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = get_config("tiny", n_synthetic=384, batch_size=32, epochs=2, log_every=1, sample_every=100, precision="fp32",
                     out=str(tmp_path / "two"))
    train_in_processes(cfg, 2)
    run(launch(tmp_path / "one", 1))
    assert_same_weights(tmp_path / "one" / "checkpoint.pt", tmp_path / "two" / "checkpoint.pt")
    with pytest.raises(TrainingError, match="already holds a run"):  # the children's own error comes back
        train_in_processes(cfg, 2)
