"End to end: the command line, resume after SIGKILL, sampling from checkpoints, bad input, NaN safety."
import hashlib
import signal
import time
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from landscape_diffusion.checkpoint import load_checkpoint
from landscape_diffusion.config import get_config
from landscape_diffusion.train import Trainer, TrainingError, train

CLI = [sys.executable, "-m", "landscape_diffusion"]
TINY = ["--preset", "tiny", "--progress", "lines"]


def cli(*args, check=True, timeout=300):
    r = subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    if check: assert r.returncode == 0, r.stdout + r.stderr
    return r


def tiny_run(out, epochs=2, **kw):
    return train(get_config("tiny", epochs=epochs, out=str(out), **kw), progress="none")


def weights(path):
    state = load_checkpoint(path)
    return {**{"model." + k: v for k, v in state["model"].items()}, **{"ema." + k: v for k, v in state["ema"].items()}}


def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(tmp_path):
    run = TINY + ["--n-synthetic", 640, "--batch-size", 32, "--epochs", 3, "--log-every", 1, "--sample-every", 100]
    cli("train", *run, "--out", tmp_path / "straight")

    killed = tmp_path / "killed"
    proc = subprocess.Popen(CLI + [str(a) for a in ["train", *run, "--out", killed]], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # 20 steps per epoch: step 24 is early in epoch 2, after epoch 1's checkpoint
        if line.startswith("epoch 2/3 step 24 "):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert load_checkpoint(killed / "checkpoint.pt")["epoch"] == 1, "the kill should land inside epoch 2"

    resumed = cli("train", *run, "--out", killed, "--resume")
    assert "resuming" in resumed.stdout and "epoch 3/3" in resumed.stdout
    a, b = weights(tmp_path / "straight" / "checkpoint.pt"), weights(killed / "checkpoint.pt")
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]
    assert load_checkpoint(killed / "checkpoint.pt")["history"]["epoch_loss"] == load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["history"]["epoch_loss"]


def test_existing_run_is_not_overwritten_without_resume(tmp_path):
    tiny_run(tmp_path / "run", epochs=1)
    r = cli("train", *TINY, "--n-synthetic", 32, "--epochs", 1, "--out", tmp_path / "run", check=False)
    assert r.returncode == 1 and "already holds a run" in r.stderr and "--resume" in r.stderr
    assert "Traceback" not in r.stderr


def test_sample_command_writes_a_grid_and_individual_images(tmp_path):
    tiny_run(tmp_path / "run")
    r = cli("sample", "--ckpt", tmp_path / "run" / "checkpoint.pt", "--n", 6, "--steps", 4, "--seed", 1,
            "--out", tmp_path / "grid.png", "--save-individual", tmp_path / "each", "--save-npz", tmp_path / "s.npz")
    assert "wrote" in r.stdout
    grid = Image.open(tmp_path / "grid.png")
    assert grid.size == (4 * (3 * 33 + 1), 4 * (2 * 33 + 1))  # 6 images of 32 px in a 3x2 grid with 1 px padding, enlarged 4x
    cli("sample", "--ckpt", tmp_path / "run" / "checkpoint.pt", "--n", 6, "--steps", 4, "--tile", 0, "--out", tmp_path / "raw.png")
    assert Image.open(tmp_path / "raw.png").size == (3 * 33 + 1, 2 * 33 + 1)
    each = sorted((tmp_path / "each").glob("*.png"))
    assert len(each) == 6 and Image.open(each[0]).size == (32, 32)
    with np.load(tmp_path / "s.npz") as z:
        assert z["images"].shape == (6, 3, 32, 32) and z["images"].dtype == np.uint8
        png = np.asarray(Image.open(each[0])).transpose(2, 0, 1).astype(int)
        assert np.abs(z["images"][0].astype(int) - png).max() <= 1


def test_sampling_is_reproducible_by_seed(tmp_path):
    tiny_run(tmp_path / "run")
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        cli("sample", "--ckpt", tmp_path / "run" / "checkpoint.pt", "--n", 2, "--steps", 4, "--seed", seed, "--out", tmp_path / f"{name}.png")
    digest = lambda n: hashlib.sha1((tmp_path / f"{n}.png").read_bytes()).hexdigest()
    assert digest("a") == digest("b") != digest("c")


@pytest.mark.parametrize("content, message", [
    (b"\x00" * 100, "not a readable checkpoint"),
    ("plain_state_dict", "not a landscape_diffusion checkpoint"),
    ("truncated", "not a readable checkpoint"),
    ("missing", "no checkpoint at"),
])
def test_bad_checkpoints_give_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if content == "plain_state_dict": torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    elif content == "truncated":
        tiny_run(tmp_path / "run", epochs=1)
        data = (tmp_path / "run" / "checkpoint.pt").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content != "missing": path.write_bytes(content)
    r = cli("sample", "--ckpt", path, "--out", tmp_path / "x.png", check=False)
    assert r.returncode == 1, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert "weights_only" not in r.stderr  # never suggest loading an untrusted file unsafely
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args, message", [
    (["train", "--preset", "huge"], "invalid choice: 'huge'"),
    (["train", "--preset", "tiny", "--epochs", "many"], "invalid int value: 'many'"),
    (["train", "--preset", "tiny", "--precision", "fp8"], "precision must be one of"),
    (["train", "--preset", "tiny", "--size", "30"], "size must be divisible by 4"),
    (["sample"], "the following arguments are required: --ckpt"),
    (["sample", "--ckpt", "x.pt", "--sampler", "euler"], "invalid choice: 'euler'"),
    (["fly"], "invalid choice: 'fly'"),
])
def test_bad_arguments_give_a_usage_error(args, message):
    r = cli(*args, check=False)
    assert r.returncode == 2 and "usage:" in r.stderr and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_bad_data_source_is_explained_not_raised(tmp_path):
    r = cli("train", *TINY, "--data", tmp_path / "nowhere", "--out", tmp_path / "run", check=False)
    assert r.returncode == 1 and "nowhere does not exist" in r.stderr and "Traceback" not in r.stderr


def test_train_and_data_commands_report_skipped_files(tmp_path):
    folder = tmp_path / "photos"; folder.mkdir()
    for i in range(12): Image.new("RGB", (48, 40), (20 * i, 100, 200 - 10 * i)).save(folder / f"{i}.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    r = cli("data", folder, "--cache-dir", tmp_path / "cache")
    assert "images used: 12" in r.stdout and "skipped: 1" in r.stdout and "broken.jpg" in r.stdout
    r = cli("train", *TINY, "--data", folder, "--cache-dir", tmp_path / "cache", "--epochs", 1, "--batch-size", 4, "--out", tmp_path / "run")
    assert "skipped: 1" in r.stdout and "loaded from cache" in r.stdout
    assert (tmp_path / "run" / "samples.png").exists() and (tmp_path / "run" / "loss.png").exists()


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    tiny_run(tmp_path / "run", epochs=1)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    before = ckpt.read_bytes()
    trainer = Trainer(get_config("tiny", epochs=3, out=str(tmp_path / "run")), resume=True, progress="none")
    real_loss = trainer.diffusion.loss
    trainer.diffusion.loss = lambda *args, **kwargs: real_loss(*args, **kwargs) * float("nan")
    with pytest.raises(TrainingError, match=r"loss became nan.*epoch 1, whose checkpoint .* is intact"):
        trainer.fit()
    assert ckpt.read_bytes() == before


def test_options_default_to_the_presets_values(tmp_path):
    from landscape_diffusion.cli import build_parser
    args = build_parser().parse_args(["train"])
    assert args.size is None and args.n_synthetic is None and args.preset is None
    cli("train", *TINY, "--epochs", 1, "--out", tmp_path / "run")
    stored = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["config"]
    assert stored["n_synthetic"] == 64 and stored["size"] == 32 and stored["preset"] == "tiny"


def test_train_options_have_help():
    r = cli("train", "--help")
    assert "max gradient norm (0: off)" in r.stdout and "AdamW learning rate" in r.stdout


def test_resume_applies_what_may_change_and_refuses_the_rest_by_name(tmp_path):
    tiny_run(tmp_path / "run", epochs=1)
    r = cli("train", "--resume", "--out", tmp_path / "run", "--epochs", 2, "--lr", "5e-4", "--grad-clip", 1, "--progress", "lines")
    assert "resuming" in r.stdout and "epoch 2/2" in r.stdout
    stored = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["config"]
    assert (stored["lr"], stored["grad_clip"], stored["preset"], stored["epochs"]) == (5e-4, 1.0, "tiny", 2)
    r = cli("train", "--resume", "--out", tmp_path / "run", "--batch-size", 8, "--widths", "8,16", check=False)
    assert r.returncode == 2 and "batch_size (run: 16, asked: 8)" in r.stderr and "widths" in r.stderr, r.stderr


def test_resume_without_epochs_keeps_the_finished_run_and_its_preset(tmp_path):
    tiny_run(tmp_path / "run", epochs=2)
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    r = cli("train", "--resume", "--out", tmp_path / "run")
    assert "already finished its 2 epochs" in r.stdout and "500" not in r.stdout
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def test_resume_needs_a_run_to_resume(tmp_path):
    r = cli("train", *TINY, "--resume", "--out", tmp_path / "typo", check=False)
    assert r.returncode == 1 and "no run to resume" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "typo").exists()


def test_runs_of_different_precisions_share_one_process(tmp_path):
    a = tiny_run(tmp_path / "a", epochs=1, precision="fp32")
    b = tiny_run(tmp_path / "b", epochs=1, precision="bf16")
    assert (a.precision, b.precision) == ("fp32", "bf16")
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["config"]["precision"] == "bf16"


def test_only_training_and_the_command_line_change_the_allocator(monkeypatch, tmp_path):
    "Issue 27: keeping freed memory is process-wide, so choosing a device or sampling never asks for it; a run does."
    import landscape_diffusion.checkpoint as checkpoint, landscape_diffusion.cli as cli, landscape_diffusion.device as device
    import landscape_diffusion.train as training
    calls = []
    for module in (device, training, cli): monkeypatch.setattr(module, "keep_freed_cpu_memory", lambda: calls.append(1))
    device.pick_device()
    assert calls == [] and not hasattr(device, "compute_device")
    run = tiny_run(tmp_path / "run", epochs=1)
    assert calls == ([1] if run.device.type == "cpu" else [])
    checkpoint.ready_to_sample(tmp_path / "run" / "checkpoint.pt")
    assert len(calls) == (1 if run.device.type == "cpu" else 0)
    cli.main(["sample", "--ckpt", str(tmp_path / "run" / "checkpoint.pt"), "--n", "1", "--out", str(tmp_path / "g.png")])
    assert len(calls) == (2 if run.device.type == "cpu" else 1)


def test_time_limit_stops_within_a_step_and_resume_gives_the_same_weights(tmp_path):
    common = dict(n_synthetic=512, epochs=3, sample_every=100, log_every=4, precision="fp32")  # 32 steps per epoch
    t0 = time.perf_counter()
    straight = train(get_config("tiny", out=str(tmp_path / "straight"), **common), progress="none")
    step_s = (time.perf_counter() - t0) / straight.step
    stopped = train(get_config("tiny", out=str(tmp_path / "stopped"), time_limit="1.5s", **common), progress="lines")
    assert stopped.stopped_early and 0 < stopped.step < straight.step, (stopped.step, straight.step)
    assert 1.5 <= stopped.stopped_after_s < 1.5 + 3 * step_s, (stopped.stopped_after_s, step_s)  # after the step that crossed it
    saved = load_checkpoint(tmp_path / "stopped" / "checkpoint.pt")
    assert saved["step"] == stopped.step and saved["epoch_step"] == stopped.step - 32 * saved["epoch"]
    resumed = train(get_config("tiny", out=str(tmp_path / "stopped"), **common), resume=True, progress="none")
    assert resumed.step == straight.step and not resumed.stopped_early
    a, b = weights(tmp_path / "straight" / "checkpoint.pt"), weights(tmp_path / "stopped" / "checkpoint.pt")
    assert not [k for k in a if not torch.equal(a[k], b[k])]
    assert resumed.history["epoch_loss"] == pytest.approx(straight.history["epoch_loss"], rel=1e-6)


def test_time_limit_from_the_command_line_says_how_to_continue(tmp_path):
    r = cli("train", *TINY, "--n-synthetic", 512, "--epochs", 3, "--time-limit", "1s", "--out", tmp_path / "run")
    assert "stopped at the time limit (1s)" in r.stdout and f"--resume --out {tmp_path / 'run'}" in r.stdout
    assert (tmp_path / "run" / "loss.png").exists() and list((tmp_path / "run" / "grids").glob("*_step_*.png"))


def test_fp16_runs_with_a_gradient_scaler_and_resumes(tmp_path):
    run = tiny_run(tmp_path / "run", epochs=1, precision="fp16")  # the T4/P100 path, on the CPU
    assert run.scaler is not None and all(np.isfinite(run.history["epoch_loss"]))
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["scaler"]["scale"] > 0
    more = train(get_config("tiny", epochs=2, precision="fp16", out=str(tmp_path / "run")), resume=True, progress="none")
    assert more.epoch == 2 and more.scaler.get_scale() > 0


def photo_folder(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n): Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"{seed}_{i:03d}.png")
    return folder


def test_resume_refuses_data_that_changed_and_accepts_a_moved_copy(tmp_path):
    photos = photo_folder(tmp_path / "photos", 12)
    cfg = get_config("tiny", data=str(photos), epochs=1, out=str(tmp_path / "run"))
    train(cfg, progress="none")
    photo_folder(photos, 1, seed=1)  # one photo added between sessions: the held-out split moves
    with pytest.raises(TrainingError, match="is not what this run trained on"):
        train(get_config("tiny", data=str(photos), epochs=2, out=cfg.out), resume=True, progress="none")
    (photos / "1_000.png").unlink()
    moved = photos.rename(tmp_path / "moved")
    assert train(get_config("tiny", data=str(moved), epochs=2, out=cfg.out), resume=True, progress="none").epoch == 2


def test_nothing_to_train_on_is_said_before_any_step_and_a_refused_batch_leaves_no_folder(tmp_path):
    photos = photo_folder(tmp_path / "photos", 5)
    with pytest.raises(TrainingError, match="nothing to train on: 0 training images"):
        train(get_config("tiny", data=str(photos), holdout_every=1, out=str(tmp_path / "run")), progress="none")
    from landscape_diffusion.config import ConfigError
    with pytest.raises(ConfigError, match="must cover 1 processes x grad_accum 32"):
        train(get_config("tiny", grad_accum=32, out=str(tmp_path / "refused")), progress="none")
    assert not (tmp_path / "refused").exists()


def test_impossible_steps_seeds_and_grids_are_one_line_before_training(tmp_path):
    r = cli("train", *TINY, "--steps", 10**10, "--out", tmp_path / "steps", check=False)
    assert r.returncode == 2 and "steps must be at most 100,000" in r.stderr and "Traceback" not in r.stderr
    from landscape_diffusion.config import ConfigError
    with pytest.raises(ConfigError, match="seed must be below 2\\*\\*63"): get_config("tiny", seed=2**64)
    with pytest.raises(ConfigError, match="more than .* in all"):
        train(get_config("tiny", sample_n=10**6, out=str(tmp_path / "grid")), progress="none")
    assert not (tmp_path / "grid" / "checkpoint.pt").exists()
