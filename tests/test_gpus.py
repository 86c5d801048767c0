"""The GPUs users have (T4, P100, A100 answers injected), and never losing a run: resume across process counts,
checkpoints on a time cadence, SIGINT/SIGTERM saving at the step, pictures shown while several processes train."""
import os
import signal
import subprocess
import sys

import pytest
import torch

from landscape_diffusion import config as config_module
from landscape_diffusion import train as train_module
from landscape_diffusion.checkpoint import load_checkpoint
from landscape_diffusion.config import get_config
from landscape_diffusion.device import (ensure_gpu_kernels, explain_choices, pick_compile, pick_precision, pretend_gpu,
                                        GPUError, check_gpu)
from landscape_diffusion.train import RunInterrupted, Trainer, train, train_in_processes

KAGGLE_TORCH = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]  # a CUDA 12.8/13 build: nothing for sm_60
CLI = [sys.executable, "-m", "landscape_diffusion"]
RUN = ["train", "--preset", "tiny", "--progress", "lines", "--n-synthetic", "384", "--batch-size", "32",
       "--log-every", "1", "--sample-every", "100", "--precision", "fp32"]


def chosen(name, capability, arch_list=KAGGLE_TORCH):
    with pretend_gpu(name, capability, arch_list) as gpu:
        precision = pick_precision(gpu)
        return precision, pick_compile(gpu, precision=precision), pick_compile(gpu, precision="bf16")


def test_t4_trains_in_fp16_with_a_scaler_and_never_compiles_bf16():
    with pretend_gpu("Tesla T4", (7, 5)) as t4: assert torch.cuda.is_bf16_supported()  # what torch says: emulation
    assert chosen("Tesla T4", (7, 5)) == ("fp16", True, False)
    with pretend_gpu("Tesla T4", (7, 5)) as t4:
        assert "gradient scaling" in explain_choices(t4, "fp16", True)
        assert explain_choices(t4, "bf16", False, ("bf16", "auto")).endswith("compile off (Inductor does not compile bf16 here)")


def test_a100_and_l4_train_in_bf16_compiled():
    assert chosen("NVIDIA A100-SXM4-40GB", (8, 0)) == ("bf16", True, True)
    assert chosen("NVIDIA L4", (8, 9)) == ("bf16", True, True)


def test_p100_installs_a_torch_with_its_kernels_then_restarts():
    calls = []
    with pretend_gpu("Tesla P100-PCIE-16GB", (6, 0), KAGGLE_TORCH) as p100:
        with pytest.raises(GPUError, match="restart the kernel"): check_gpu(p100)
        assert not ensure_gpu_kernels(pip=calls.append, restart=lambda: calls.append("restart"))
    release = torch.__version__.split("+")[0]
    pip, restart = calls
    assert restart == "restart"
    assert pip[0] == "install" and pip[-2:] == ["--index-url", "https://download.pytorch.org/whl/cu126"]
    assert pip[1] in (f"torch=={release}", "torch==2.14.*") and pip[2].startswith("torchvision==0.")
    with pretend_gpu("Tesla T4", (7, 5), KAGGLE_TORCH):  # a GPU this torch drives: nothing installed
        assert ensure_gpu_kernels(pip=calls.append, restart=lambda: calls.append("restart"))
    assert len(calls) == 2


def test_colab_runs_go_to_drive_and_stop_before_the_session_ends(tmp_path, monkeypatch):
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab")
    monkeypatch.setattr(config_module, "COLAB_DRIVE", tmp_path)
    cfg = get_config("fast")
    assert (cfg.out, cfg.time_limit) == (str(tmp_path / "landscape_diffusion" / "runs" / "fast"), "11h")
    monkeypatch.setattr(config_module, "COLAB_DRIVE", tmp_path / "not-mounted")
    assert get_config("fast").out == "runs/fast"


def count_checkpoint_writes(monkeypatch):
    writes = []
    real = train_module.save_checkpoint
    monkeypatch.setattr(train_module, "save_checkpoint", lambda path, state: (writes.append(state["step"]), real(path, state)))
    return writes


def test_checkpoints_follow_the_time_cadence(tmp_path, monkeypatch):
    writes = count_checkpoint_writes(monkeypatch)
    train(get_config("tiny", epochs=3, checkpoint_every="1h", out=str(tmp_path / "hourly")), progress="none")
    assert writes == [12]  # 4 steps per epoch: only the last epoch's
    writes.clear()
    train(get_config("tiny", epochs=3, out=str(tmp_path / "every")), progress="none")  # tiny's "0s": every epoch
    assert writes == [4, 8, 12]


def weights(path):
    state = load_checkpoint(path)
    return {**{"model." + k: v for k, v in state["model"].items()}, **{"ema." + k: v for k, v in state["ema"].items()}}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_epoch_saves_that_step_and_resume_matches_bit_for_bit(sig, tmp_path):
    run = RUN + ["--epochs", "3", "--checkpoint-every", "1h"]  # no checkpoint before the end but the one the signal writes
    straight = subprocess.run(CLI + run + ["--out", str(tmp_path / "straight")], capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr
    out = tmp_path / "stopped"
    proc = subprocess.Popen(CLI + run + ["--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # 12 steps per epoch: step 15 is inside epoch 2
        if line.startswith("epoch 2/3 step 15 "):
            proc.send_signal(sig)
            break
    rest = proc.stdout.read()
    assert proc.wait(timeout=120) != 0, rest
    assert "checkpoint saved. Continue with" in rest and "Traceback" not in rest, rest
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["epoch"] == 1 and 15 <= state["step"] < 24 and state["epoch_step"] == state["step"] - 12, state["step"]
    resumed = subprocess.run(CLI + run + ["--out", str(out), "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    a, b = weights(tmp_path / "straight" / "checkpoint.pt"), weights(out / "checkpoint.pt")
    assert not [k for k in a if not torch.equal(a[k], b[k])]


def test_an_interrupt_in_python_raises_after_saving(tmp_path):
    trainer = Trainer(get_config("tiny", epochs=3, out=str(tmp_path / "run")), progress="none")
    step = trainer.train_step
    def step_then_interrupt(x):
        loss = step(x)
        if trainer.step == 6: os.kill(os.getpid(), signal.SIGINT)  # as Jupyter's Interrupt button does
        return loss
    trainer.train_step = step_then_interrupt
    with pytest.raises(RunInterrupted, match="stopped on SIGINT after step 6"): trainer.fit()
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 6
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back


def assert_close_weights(a, b):
    wa, wb = weights(a), weights(b)
    for k in wa: assert torch.allclose(wa[k].float(), wb[k].float(), atol=1e-5, rtol=1e-4), k


def test_resume_across_process_counts_one_two_one(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    def cli(out, epochs, *extra):
        r = subprocess.run(CLI + RUN + ["--epochs", str(epochs), "--out", str(out), *extra], capture_output=True, text=True,
                           timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    cli(tmp_path / "straight", 3)
    out = tmp_path / "moved"
    cli(out, 1)  # one process, stored with tuples
    cfg = get_config("tiny", n_synthetic=384, batch_size=32, epochs=2, log_every=1, sample_every=100, precision="fp32", out=str(out))
    train_in_processes(cfg, 2, resume=True)  # two processes, handed the config as JSON lists
    cli(out, 3, "--resume")  # and back to one
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 3
    assert_close_weights(tmp_path / "straight" / "checkpoint.pt", out / "checkpoint.pt")


def test_several_processes_show_each_grid_as_it_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    shown = []
    class Handle:
        def update(self, picture): shown.append(os.path.basename(picture.filename))
    def display(picture, display_id=False):
        shown.append(os.path.basename(picture.filename))
        return Handle()
    import IPython.display
    monkeypatch.setattr(IPython.display, "display", display)
    cfg = get_config("tiny", n_synthetic=128, batch_size=32, epochs=3, log_every=1, precision="fp32", out=str(tmp_path / "run"))
    train_in_processes(cfg, 2, show=True)
    grids = [s for s in shown if s.startswith("epoch_")]
    assert len(set(grids)) >= 2 and grids[-1] == "epoch_0003.png", shown  # seen while the run went on, up to its last
    assert "loss.png" in shown


def test_compile_without_a_compiler_is_one_line_before_training(tmp_path, monkeypatch):
    import shutil
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(config_module.ConfigError, match="compile on needs g\\+\\+, which this machine lacks"):
        Trainer(get_config("tiny", compile="on", out=str(tmp_path / "run")), progress="none")
    with pretend_gpu("Tesla T4", (7, 5)) as t4:
        assert not pick_compile(t4)  # auto: no compiler, no compile
        assert explain_choices(t4, "fp16", False).endswith("(Inductor needs gcc, which is not installed)")


def test_interrupting_a_notebook_with_several_processes_saves_and_says_how_to_go_on(tmp_path, monkeypatch):
    "Jupyter's Interrupt reaches the notebook's kernel: it is passed on, each process saves at the same step."
    import threading, time
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = get_config("tiny", n_synthetic=128, batch_size=32, epochs=200, log_every=1, precision="fp32", out=str(tmp_path / "run"))
    def press_interrupt_once_training():
        while not (tmp_path / "run" / "grids" / "epoch_0002.png").exists(): time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)  # what the Interrupt button sends the kernel
    threading.Thread(target=press_interrupt_once_training, daemon=True).start()
    with pytest.raises(RunInterrupted, match="stopped on SIGTERM after step .*checkpoint saved"):
        train_in_processes(cfg, 2)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert 8 <= state["step"] < 200 * 4
