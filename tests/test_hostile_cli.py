"Hostile or careless input, second round (issue 26): shared weights verified, outputs checked before the work, nothing unbounded."
import json
import os
import random
import subprocess
import sys
import zipfile
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from PIL import Image

from landscape_diffusion.checkpoint import CheckpointError, export_weights, load_checkpoint
from landscape_diffusion.cli import main
from landscape_diffusion.config import get_config
from landscape_diffusion.train import train

CLI = [sys.executable, "-m", "landscape_diffusion"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    "A tiny run (its grids sample with 5 DDIM steps), its export, and a photo."
    root = tmp_path_factory.mktemp("hostile")
    train(get_config("tiny", epochs=1, out=str(root / "run")), progress="none")
    export_weights(root / "run" / "checkpoint.pt", root / "small.pt")
    Image.new("RGB", (40, 40), "blue").save(root / "photo.png")
    return root


def cli(capsys, *args) -> tuple: # (exit code, stdout, stderr)
    "Run the command in this process: an exception it does not turn into one line fails the test with its traceback."
    try: main([str(a) for a in args]); code = 0
    except SystemExit as e: code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def in_a_shell(*args) -> tuple: # (exit code, stderr)
    "Run the command in its own process, as a user would."
    r = subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=300)
    return r.returncode, r.stderr


def one_line(err:str) -> str:
    "The error line (argparse puts its usage above it); asserts there is no traceback."
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


def weight_ranges(path) -> list:
    "(start, end) byte ranges of the tensor storages inside a torch zip file."
    ranges = []
    with zipfile.ZipFile(path) as z, open(path, "rb") as f:
        for info in z.infolist():
            if info.filename.rsplit("/", 2)[-2:-1] != ["data"]: continue
            f.seek(info.header_offset + 26)
            name_len, extra_len = np.frombuffer(f.read(4), "<u2")
            start = info.header_offset + 30 + int(name_len) + int(extra_len)
            ranges.append((start, start + info.compress_size))
    return ranges


# item 2: shared weights carry their own check

def test_bit_flips_in_an_exported_file_are_all_refused(run, tmp_path):
    "Item 2: 297 of 300 single-bit flips in the shared weights loaded silently and sampled noise with exit 0."
    data = (run / "small.pt").read_bytes()
    ranges = weight_ranges(run / "small.pt")
    assert sum(e - s for s, e in ranges) > 0.9 * 2 * sum(v.numel() for v in load_checkpoint(run / "small.pt")["model"].values())
    rng, flipped = random.Random(26), tmp_path / "flipped.pt"
    for i in range(300):
        start, end = rng.choice(ranges)
        damaged = bytearray(data); damaged[rng.randrange(start, end)] ^= 1 << rng.randrange(8)
        flipped.write_bytes(damaged)
        with pytest.raises(CheckpointError, match="is damaged|not a readable checkpoint"): load_checkpoint(flipped)
        if i < 2:  # from the command line: exit 1, one line, no picture
            code, err = in_a_shell("sample", "--ckpt", flipped, "--n", 2, "--out", tmp_path / "x.png")
            assert code == 1 and err.count("\n") == 1 and "is damaged" in err and not (tmp_path / "x.png").exists(), err


@pytest.mark.parametrize("source", ["checkpoint", "export"])
def test_a_stored_config_without_a_sampling_field_is_refused(run, tmp_path, capsys, source):
    "Item 2: a config without `prediction` sampled garbage with exit 0 (the default, eps, for a v-predicting model)."
    from landscape_diffusion.checkpoint import weights_digest
    state = torch.load(run / ("run/checkpoint.pt" if source == "checkpoint" else "small.pt"), weights_only=True)
    del state["config"]["prediction"]
    if source == "export": state["sha256"] = weights_digest(state)  # a consistent file, as a careless tool would write it
    torch.save(state, tmp_path / "edited.pt")
    code, _, err = cli(capsys, "sample", "--ckpt", tmp_path / "edited.pt", "--n", 2, "--out", tmp_path / "x.png")
    assert code == 1 and "lacks prediction" in one_line(err) and not (tmp_path / "x.png").exists(), err


# item 6: --out never replaces an input or a run's files

@pytest.mark.parametrize("case", ["mask", "other run's checkpoint", "other run's grid", "hard link to the checkpoint"])
def test_out_never_replaces_an_input_or_a_file_a_run_keeps(run, tmp_path, capsys, case):
    "Item 6: `inpaint --mask m.png --out m.png` replaced the mask; `export --out other_run/checkpoint.pt` another run's state."
    ckpt = run / "run" / "checkpoint.pt"
    Image.new("L", (40, 40), 255).save(tmp_path / "m.png")
    if case == "hard link to the checkpoint": os.link(ckpt, tmp_path / "link.png")
    target, args = {
        "mask": (tmp_path / "m.png", ["inpaint", "--image", run / "photo.png", "--mask", tmp_path / "m.png", "--n", 1, "--steps", 4]),
        "other run's checkpoint": (ckpt, ["export", "--ckpt", run / "small.pt"]),
        "other run's grid": (next((run / "run" / "grids").glob("*.png")), ["sample", "--ckpt", run / "small.pt", "--n", 1]),
        "hard link to the checkpoint": (tmp_path / "link.png", ["sample", "--ckpt", ckpt, "--n", 1]),
    }[case]
    before = target.read_bytes()
    code, _, err = cli(capsys, args[0], *(["--ckpt", ckpt] if "--ckpt" not in args else []), *args[1:], "--out", target)
    assert code == 2 and ("this command's input" in one_line(err) or "the training run in" in one_line(err)), err
    assert target.read_bytes() == before


# item 7: no exit 0 with an unusable result

@pytest.mark.parametrize("value", [float("nan"), 1e6])
def test_export_refuses_weights_half_precision_cannot_keep(run, tmp_path, value):
    "Item 7: export of NaN weights or of a weight beyond 65504 wrote a file that `sample` then called damaged."
    state = torch.load(run / "run" / "checkpoint.pt", weights_only=True)
    next(v for v in state["ema"].values() if v.is_floating_point() and v.ndim > 1).view(-1)[0] = value
    torch.save(state, tmp_path / "bad.pt")
    code, err = in_a_shell("export", "--ckpt", tmp_path / "bad.pt", "--out", tmp_path / "out.pt")
    assert code == 1 and err.count("\n") == 1 and "half precision cannot keep" in err and not (tmp_path / "out.pt").exists(), err


@pytest.mark.parametrize("images", ["identical", "one"])
def test_evaluate_writes_strict_json_and_needs_two_training_images_to_find_copies(run, tmp_path, capsys, images):
    "Item 7: identical images wrote `Infinity` into the JSON; with one training image every sample was 'a copy'."
    rng = np.random.default_rng(0)
    pixels = np.full((20, 3, 32, 32), 100, np.uint8) if images == "identical" else rng.integers(0, 256, (1, 3, 32, 32), np.uint8)
    np.savez(tmp_path / "photos.npz", images=pixels)
    code, out, err = cli(capsys, "evaluate", "--ckpt", run / "run" / "checkpoint.pt", "--data", tmp_path / "photos.npz", "--split", "all",
                         "--n", 4, "--json", tmp_path / "res.json")
    assert code == 0, err
    def refuse(constant): raise AssertionError(f"{constant} is not JSON")
    res = json.loads((tmp_path / "res.json").read_text(), parse_constant=refuse)
    assert res["memorisation_min_ratio"] is None and res["memorisation_share_below_0.5"] is None
    assert "2 or more different training images" in res["memorisation_note"]
    if images == "identical": assert res["colour_std_error"] is None and res["sharpness"] is None  # no spread, no fine detail: no ratio
    if images == "identical":  # held out too, they are their own floor at zero: no ratio to it either
        code, out, err = cli(capsys, "evaluate", "--ckpt", run / "run" / "checkpoint.pt", "--data", tmp_path / "photos.npz",
                             "--n", 4, "--json", tmp_path / "held-out.json")
        assert code == 0, err
        res = json.loads((tmp_path / "held-out.json").read_text(), parse_constant=refuse)
        assert res["swd_floor"] == 0 and res["swd_over_floor"] is None


# item 8: one line, before the work, never a traceback after it

@contextmanager
def read_only(folder):
    "The folder made unwritable even for root (the immutable attribute), or the test skipped where that is not possible."
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode: pytest.skip("chattr +i is not available here")
    try: yield folder
    finally: subprocess.run(["chattr", "-i", str(folder)], check=True)


OUTPUTS = dict(sample=("--out", "x.png"), animate=("--out", "x.gif"), interpolate=("--out", "x.png"), inpaint=("--out", "x.png"),
               export=("--out", "x.pt"), evaluate=("--json", "x.json"))


@pytest.mark.parametrize("command", list(OUTPUTS))
def test_an_output_under_a_file_is_refused_before_the_work(run, tmp_path, capsys, command):
    "Item 8: an --out (or --json) whose parent is a file failed after all the sampling, in a traceback."
    (tmp_path / "file").write_text("not a folder")
    option, name = OUTPUTS[command]
    extra = dict(evaluate=["--data", "synthetic", "--n", 4], inpaint=["--image", run / "photo.png"]).get(command, [])
    code, out, err = cli(capsys, command, "--ckpt", run / "run" / "checkpoint.pt", *extra, option, tmp_path / "file" / name)
    assert code == 2 and "file is a file, not a folder" in one_line(err) and not out, err


def test_evaluate_beside_a_read_only_checkpoint_is_refused_before_sampling(run, tmp_path, capsys):
    "Item 8: evaluate's default JSON beside a read-only checkpoint failed after all the sampling."
    folder = tmp_path / "locked"; folder.mkdir()
    (folder / "checkpoint.pt").write_bytes((run / "run" / "checkpoint.pt").read_bytes())
    with read_only(folder): code, out, err = cli(capsys, "evaluate", "--ckpt", folder / "checkpoint.pt", "--data", "synthetic", "--n", 4)
    assert code == 2 and "cannot be written" in one_line(err) and not out, err


@pytest.mark.parametrize("args, message", [
    (["sample", "--seed", str(2 ** 64)], "seed cannot be negative or above 2**64 - 1"),
    (["sample", "--seed", "1e15"], "a seed must be a whole number"),
    (["animate", "--seed", str(2 ** 64)], "seed cannot be negative or above 2**64 - 1"),
    (["train", "--preset", "tiny", "--seed", str(2 ** 64)], "seed cannot be negative or above 2**64 - 1"),
])
def test_seeds_out_of_range_are_one_line(run, tmp_path, capsys, args, message):
    "Item 8: `--seed 2**64` ended in a traceback ('Overflow when unpacking long long') once the model was loaded."
    ckpt = [] if args[0] == "train" else ["--ckpt", run / "run" / "checkpoint.pt"]
    out = tmp_path / dict(train="run", animate="x.gif").get(args[0], "x.png")
    code, _, err = cli(capsys, args[0], *ckpt, *args[1:], "--out", out)
    assert code == 2 and message in one_line(err), err


def test_a_checkpoint_missing_a_top_level_key_is_one_line(run, tmp_path, capsys):
    "Item 8: a checkpoint without its 'model' ended in KeyError."
    state = torch.load(run / "run" / "checkpoint.pt", weights_only=True)
    del state["model"]
    torch.save(state, tmp_path / "cut.pt")
    for command in (["sample", "--raw", "--n", 1, "--out", tmp_path / "x.png"], ["export", "--raw", "--out", tmp_path / "x.pt"]):
        code, _, err = cli(capsys, command[0], "--ckpt", tmp_path / "cut.pt", *command[1:])
        assert code == 1 and "has no model" in one_line(err) and len(err.strip().splitlines()) == 1, err


def test_save_individual_pointing_at_a_file_is_refused_before_sampling(run, tmp_path, capsys):
    "Item 8: the grid was written, then `--save-individual FILE` ended in FileExistsError."
    (tmp_path / "file").write_text("mine")
    code, _, err = cli(capsys, "sample", "--ckpt", run / "run" / "checkpoint.pt", "--n", 2, "--out", tmp_path / "x.png",
                       "--save-individual", tmp_path / "file")
    assert code == 2 and "is a file: give a folder" in one_line(err) and not (tmp_path / "x.png").exists(), err
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize("where", ["--out", "--ckpt"])
def test_a_symlink_loop_is_one_line(run, tmp_path, capsys, where):
    "Item 8: a loop of links as --out or --ckpt ended in RuntimeError('Symlink loop')."
    os.symlink(tmp_path / "b.png", tmp_path / "a.png"); os.symlink(tmp_path / "a.png", tmp_path / "b.png")
    args = {"--out": ["--ckpt", run / "run" / "checkpoint.pt", "--out", tmp_path / "a.png"],
            "--ckpt": ["--ckpt", tmp_path / "a.png", "--out", tmp_path / "x.png"]}[where]
    code, _, err = cli(capsys, "sample", "--n", 1, *args)
    assert code in (1, 2) and "loop" in one_line(err), err


# item 9: memory with bounds

def test_a_huge_tile_is_refused_before_sampling(run, tmp_path, capsys):
    "Item 9: `--tile 100000` sampled, then failed allocating 526 GB."
    code, _, err = cli(capsys, "sample", "--ckpt", run / "run" / "checkpoint.pt", "--n", 4, "--tile", 100_000,
                       "--out", tmp_path / "x.png")
    assert code == 2 and "choose a smaller tile" in one_line(err) and not (tmp_path / "x.png").exists(), err


def test_many_samples_are_saved_before_a_bounded_grid(run, tmp_path, capsys, monkeypatch):
    "Item 9: `sample --n 30000` sampled, then failed on a 6.3 GB grid and never wrote the --save-npz it was asked for."
    import landscape_diffusion.cli as cli_module
    monkeypatch.setattr(cli_module, "sample_images", lambda ckpt, n, *a, **k: torch.zeros(n, 3, 32, 32))  # the images, instantly
    code, out, err = cli(capsys, "sample", "--ckpt", run / "run" / "checkpoint.pt", "--n", 30_000, "--tile", 0,
                         "--out", tmp_path / "grid.png", "--save-npz", tmp_path / "all.npz")
    assert code == 0, err
    lines = out.splitlines()
    assert "all.npz" in lines[0] and "(30000 images; the grid shows the first 1024)" in lines[1], out
    assert np.load(tmp_path / "all.npz")["images"].shape == (30_000, 3, 32, 32)
    assert Image.open(tmp_path / "grid.png").size == (32 * 33 + 1, 32 * 33 + 1)


@pytest.mark.parametrize("args, message", [
    (["sample", "--n", 200_000], "at most 131,072"),
    (["inpaint", "--image", "photo.png", "--n", 1000], "--n must be at most 256 (the images one batch makes"),
    (["animate", "--n", 256, "--steps", 1000, "--frames", 1000], "choose a smaller tile"),
    (["inpaint", "--image", "photo.png", "--resample", 10 ** 6], "--resample must be at most 100"),
])
def test_counts_that_would_not_fit_in_memory_are_refused_before_sampling(run, tmp_path, capsys, monkeypatch, args, message):
    "Item 9: the play commands made all --n images in one batch, and the sample count had no bound."
    monkeypatch.chdir(run)
    out = tmp_path / ("x.gif" if args[0] == "animate" else "x.png")
    code, _, err = cli(capsys, args[0], "--ckpt", run / "run" / "checkpoint.pt", *args[1:], "--out", out)
    assert code == 2 and message in one_line(err) and not out.exists(), err


# item 13

def test_export_for_ddpm_stores_ddpms_own_step_count(run, tmp_path, capsys):
    "Item 13: `export --sampler ddpm` of a run whose grids used 5 DDIM steps stored DDPM with 5 steps."
    code, _, err = cli(capsys, "export", "--ckpt", run / "run" / "checkpoint.pt", "--sampler", "ddpm", "--out", tmp_path / "ddpm.pt")
    assert code == 0, err
    cfg = load_checkpoint(tmp_path / "ddpm.pt")["config"]
    assert (cfg["sampler"], cfg["sample_steps"], cfg["steps"]) == ("ddpm", 1000, 1000)
    cli(capsys, "export", "--ckpt", run / "run" / "checkpoint.pt", "--sampler", "ddpm", "--steps", 50, "--out", tmp_path / "ddpm50.pt")
    assert load_checkpoint(tmp_path / "ddpm50.pt")["config"]["sample_steps"] == 50
