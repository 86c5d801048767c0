"Training logs where people look at them: TensorBoard's event files in the run folder when asked, nothing when not."
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from landscape_diffusion.config import ConfigError, get_config
from landscape_diffusion.track import open_tracker
from landscape_diffusion.train import train

NO_WANDB = "import sys; sys.modules['wandb'] = None"  # wandb as if not installed: find_spec finds nothing


def tiny_run(out, **kw):
    return train(get_config("tiny", epochs=1, out=str(out), **kw), progress="none")


def event_files(folder):
    return sorted(folder.rglob("events.out.tfevents.*"))


def test_tensorboard_logs_loss_learning_rate_speed_and_grid_in_the_run_folder(tmp_path):
    run = tiny_run(tmp_path / "run", log_with="tensorboard")
    assert event_files(tmp_path / "run") and all((tmp_path / "run" / "logs") in p.parents
                                                  for p in event_files(tmp_path))
    events = EventAccumulator(str(tmp_path / "run" / "logs" / "run")); events.Reload()
    assert {"loss", "lr", "img_s"} <= set(events.Tags()["scalars"])
    loss = events.Scalars("loss")
    assert [e.step for e in loss] == run.history["step"] and len(loss) == 2  # 4 steps, a read every 2
    assert [e.value for e in loss] == pytest.approx(run.history["loss"], rel=1e-6)
    assert events.Scalars("lr")[-1].value == pytest.approx(run.opt.param_groups[0]["lr"])
    assert all(e.value > 0 for e in events.Scalars("img_s"))
    assert [e.step for e in events.Images("grid")] == [run.step]  # the epoch's grid
    assert run.tracker is None  # finished when fit ended


def test_without_log_with_no_event_file_anywhere(tmp_path):
    run = tiny_run(tmp_path / "run")
    assert run.cfg.log_with == "none" and run.tracker is None
    assert event_files(tmp_path) == [] and not (tmp_path / "run" / "logs").exists()


def test_a_resumed_run_may_start_logging(tmp_path):
    tiny_run(tmp_path / "run")
    more = train(get_config("tiny", epochs=2, out=str(tmp_path / "run"), log_with="tensorboard"), resume=True,
                 progress="none")
    events = EventAccumulator(str(tmp_path / "run" / "logs" / "run")); events.Reload()
    assert [e.step for e in events.Scalars("loss")] == more.history["step"][2:]  # the second epoch's reads


def test_wandb_not_installed_is_one_line_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ConfigError) as e: open_tracker("wandb", tmp_path / "run")
    assert str(e.value) == ("--log-with wandb needs wandb, which is not installed: pip install wandb, then wandb login")
    with pytest.raises(ConfigError, match="pip install wandb"): tiny_run(tmp_path / "run", log_with="wandb")
    tiny_run(tmp_path / "run")  # the refused run left the folder free and held no run: a new one starts there
    with pytest.raises(ConfigError, match="log_with must be one of none, tensorboard, wandb; got 'comet'"):
        get_config("tiny", log_with="comet")


def cli(*args, prelude="pass"):
    code = f"{prelude}; from landscape_diffusion.cli import main; main({[str(a) for a in args]!r})"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_command_line_takes_log_with(tmp_path):
    r = cli("train", "--preset", "tiny", "--epochs", 1, "--progress", "none", "--log-with", "tensorboard",
            "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    assert event_files(tmp_path / "run" / "logs")
    r = cli("train", "--preset", "tiny", "--log-with", "wandb", "--out", tmp_path / "other", prelude=NO_WANDB)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].endswith("pip install wandb, then wandb login")
    r = cli("train", "--help")
    assert "--log-with" in r.stdout and "tensorboard or wandb" in " ".join(r.stdout.split())
