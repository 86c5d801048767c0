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


def test_a_run_saved_inside_the_data_folder_does_not_become_training_data(tmp_path):
    "Item 7: `cd photos && train --data .` used to train the next run on its own samples.png, loss.png and grids."
    from landscape_diffusion.data import load_images
    from landscape_diffusion.synthetic import synthetic_landscapes
    photos = tmp_path / "photos"; photos.mkdir()
    for i, img in enumerate(synthetic_landscapes(12, 32).permute(0, 2, 3, 1).numpy()): Image.fromarray(img).save(photos / f"{i}.png")
    r = cli("train", "--preset", "tiny", "--data", photos, "--epochs", 1, "--out", photos / "runs" / "demo", "--cache-dir", tmp_path / "cache", "--progress", "none")
    assert r.returncode == 0 and (photos / "runs" / "demo" / "samples.png").exists(), r.stderr
    images, summary = load_images(str(photos), 32, cache_dir=tmp_path / "cache")
    assert len(images) == 12, summary


def test_a_kaggle_download_that_never_answers_ends_in_one_line():
    "Item 8: behind a network that accepts connections and never answers, the download used to wait forever."
    from landscape_diffusion.data import DataError, download_kaggle
    t0 = time.perf_counter()
    with pytest.raises(DataError, match="no answer after 0.5 s.*--data synthetic"):
        download_kaggle(download=lambda handle: time.sleep(600), kaggle_root="/nonexistent", timeout=0.5)
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("args, message", [
    (["sample", "--steps", "0"], "sampler steps must be between 1 and 1000"),
    (["sample", "--steps", "100000"], "sampler steps must be between 1 and 1000"),
    (["sample", "--eta", "nan"], "eta must be a number >= 0"),
    (["evaluate", "--data", "synthetic", "--n", "0"], "at least 1"),
])
def test_impossible_sampler_settings_are_one_line(run, tmp_path, args, message):
    "Items 9 and 10: these gave tracebacks, or (eta nan) a black grid with exit 0."
    r = cli(args[0], "--ckpt", run / "checkpoint.pt", *args[1:], *(["--out", tmp_path / "x.png"] if args[0] == "sample" else []))
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("name, content, message", [
    ("text.npz", b"hello\n", "is not an .npz archive"),
    ("empty.npz", None, "with N >= 1"),
    ("UPPER.NPZ", "ok", None),
])
def test_npz_files_are_recognised_and_explained(tmp_path, name, content, message):
    "Item 9: a text file named .npz was 'pickled data', 0 images ended in a NaN loss, UPPER.NPZ was 'not a folder'."
    import numpy as np
    path = tmp_path / name
    if content is None: np.savez(path, images=np.zeros((0, 3, 32, 32), np.uint8))
    elif content == "ok": np.savez(tmp_path / "x.npz", images=np.zeros((3, 3, 32, 32), np.uint8)); (tmp_path / "x.npz").rename(path)
    else: path.write_bytes(content)
    r = cli("data", path)
    if message is None: assert r.returncode == 0 and "images used: 3" in r.stdout, r.stderr
    else: assert r.returncode == 1 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_weights_that_are_not_finite_are_refused(run, tmp_path):
    "Item 10: NaN weights sampled an all-black grid with exit 0."
    import torch
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    for weights in (state["model"], state["ema"]): next(v for k, v in weights.items() if v.is_floating_point() and v.ndim > 1)[0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    r = cli("sample", "--ckpt", tmp_path / "nan.pt", "--n", 2, "--out", tmp_path / "x.png")
    assert r.returncode == 1 and "not finite numbers" in r.stderr and not (tmp_path / "x.png").exists(), r.stderr


def test_a_run_folder_that_cannot_be_written_is_one_line_before_training(tmp_path):
    "Item 9: a read-only or impossible run folder failed only after an epoch of training, with a traceback."
    (tmp_path / "file").write_text("not a folder")
    t0 = time.perf_counter()
    r = cli("train", "--preset", "tiny", "--out", tmp_path / "file" / "run", "--progress", "none")
    assert r.returncode == 1 and "cannot write to the run folder" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert time.perf_counter() - t0 < 60


def test_a_full_disk_while_saving_keeps_the_last_checkpoint_and_says_so(tmp_path, monkeypatch):
    "Item 9: disk full while saving ended in a traceback from deep inside torch.save ('unexpected pos ...')."
    import landscape_diffusion.train as train_module
    from landscape_diffusion.config import get_config
    cfg = get_config("tiny", out=str(tmp_path / "run"), epochs=1)
    train_module.train(cfg, progress="none")
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    def full(path, state): raise OSError(28, "No space left on device")
    monkeypatch.setattr(train_module, "save_checkpoint", full)
    with pytest.raises(train_module.TrainingError, match="No space left on device.*--resume.*intact"):
        train_module.train(cfg.__class__(**{**cfg.__dict__, "epochs": 2}), resume=True, progress="none")
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def test_temporaries_of_killed_writers_are_cleaned_when_a_run_starts(run, tmp_path):
    "Item 10: `kill -9` during a write left hidden .tmp files in the run folder forever."
    import os, shutil
    folder = tmp_path / "run"; shutil.copytree(run, folder)
    dead = subprocess.Popen(["true"]); dead.wait()  # a process id that no longer runs
    stale, live = folder / f".checkpoint.pt.landscape-{dead.pid}.tmp", folder / "grids" / f".x.png.landscape-{os.getpid()}.tmp"
    stale.write_bytes(b"half a checkpoint"); live.write_bytes(b"being written")
    assert cli("train", "--resume", "--out", folder, "--epochs", 2, "--progress", "none").returncode == 0
    assert not stale.exists() and live.exists()


def test_a_newline_in_a_file_name_cannot_forge_summary_lines(tmp_path):
    "Item 10: a file named 'x\\n  images used: 99999' printed a fake line in the data summary."
    folder = tmp_path / "photos"; folder.mkdir()
    Image.new("RGB", (40, 40), "blue").save(folder / "good.png")
    (folder / "x\n  images used: 99999.png").write_bytes(b"not an image")
    r = cli("data", folder, "--cache-dir", tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert [line for line in r.stdout.splitlines() if line.lstrip().startswith("images used")] == ["  images used: 1 at 32x32 (0 upscaled from smaller originals)"], r.stdout
    assert "x\\n  images used: 99999.png" in r.stdout


def test_writing_over_an_existing_file_is_said(run, tmp_path):
    "Item 3: `sample --out photo.png` replaced whatever was there without a word."
    (tmp_path / "mine.png").write_bytes(b"someone's picture")
    r = cli("sample", "--ckpt", run / "checkpoint.pt", "--n", 2, "--out", tmp_path / "mine.png")
    assert r.returncode == 0 and "(replacing the file that was there)" in r.stdout, r.stdout
    r = cli("sample", "--ckpt", run / "checkpoint.pt", "--n", 2, "--out", tmp_path / "new.png")
    assert r.returncode == 0 and "replacing" not in r.stdout, r.stdout


def test_an_unreadable_subfolder_is_named_in_the_summary(tmp_path, monkeypatch):
    "Item 10: a subfolder the user may not read was skipped without a word (simulated: the tests run as root, who reads everything)."
    import os
    from landscape_diffusion.data import load_folder
    photos = tmp_path / "photos"; (photos / "locked").mkdir(parents=True)
    Image.new("RGB", (40, 40), "blue").save(photos / "a.png"); Image.new("RGB", (40, 40), "red").save(photos / "locked" / "b.png")
    real_scandir = os.scandir
    def scandir(path="."):
        if os.fspath(path) == str(photos / "locked"): raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)
    monkeypatch.setattr(os, "scandir", scandir)
    images, summary = load_folder(photos, 32, cache_dir=tmp_path / "cache")
    assert len(images) == 1 and f"{photos / 'locked'}: folder not read (Permission denied)" in str(summary), str(summary)


@pytest.mark.parametrize("edit", [dict(groups=3), dict(size="big"), dict(config="nonsense")])
def test_a_tampered_checkpoint_config_is_one_line(run, tmp_path, edit):
    "Item 9: an edited config inside a checkpoint gave tracebacks from deep inside the model or the sampler."
    import torch
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["config"] = edit["config"] if "config" in edit else {**state["config"], **edit}
    torch.save(state, tmp_path / "edited.pt")
    r = cli("sample", "--ckpt", tmp_path / "edited.pt", "--n", 2, "--out", tmp_path / "x.png")
    assert r.returncode == 1 and "edited or damaged" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_cache_folder_that_cannot_be_written_costs_the_cache_not_the_data(tmp_path):
    "Item 9: a read-only cache folder ended the load in a traceback (simulated by a path under a file: root writes anywhere)."
    folder = tmp_path / "photos"; folder.mkdir()
    Image.new("RGB", (40, 40), "blue").save(folder / "a.png")
    (tmp_path / "file").write_text("not a folder")
    r = cli("data", folder, "--cache-dir", tmp_path / "file" / "cache")
    assert r.returncode == 0 and "images used: 1 " in r.stdout and "not written in" in r.stdout and "--cache-dir" in r.stdout, r.stdout + r.stderr
    from landscape_diffusion.data import load_folder
    _, summary = load_folder(folder, cache_dir=tmp_path / "file" / "cache")
    assert summary.cache_path is None and "--cache-dir" in summary.cache_problem  # issue 27: a path field holds a path


def test_export_for_another_sampler_stores_that_samplers_own_defaults(tmp_path):
    "Issue 27: `export --sampler ddpm` of a run whose grids used DDIM-250 stored 250 steps for DDPM."
    import dataclasses
    import torch
    from landscape_diffusion.checkpoint import build_model, save_checkpoint, stored_config
    from landscape_diffusion.config import get_config
    cfg = dataclasses.replace(get_config("tiny", out=str(tmp_path / "run")), sampler="ddim", sample_steps=250, sample_eta=0.0)
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "ddim250.pt", {"config": dataclasses.asdict(cfg), "model": build_model(cfg).state_dict(), "ema": None})
    r = cli("export", "--ckpt", tmp_path / "ddim250.pt", "--sampler", "ddpm", "--out", tmp_path / "ddpm.pt")
    assert r.returncode == 0, r.stderr
    exported = stored_config(tmp_path / "ddpm.pt")
    assert (exported.sampler, exported.sample_steps, exported.sample_eta) == ("ddpm", cfg.steps, 1.0)
    assert stored_config(tmp_path / "ddim250.pt").sample_steps == 250  # the run itself is untouched
