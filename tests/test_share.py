"Weights shared as the ecosystem shares them (issue 25): safetensors with config, sampler and SHA-256, checked on load."
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from landscape_diffusion.checkpoint import (CheckpointError, config_from, export_weights, load_checkpoint,
                                            model_from_checkpoint, sample_images)

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained" / "landscapes32.safetensors"


def cli(*args):
    return subprocess.run([sys.executable, "-m", "landscape_diffusion", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    "The pretrained file exported again as safetensors for DDIM-50 (another sampler than the file's own)."
    out = tmp_path_factory.mktemp("share")
    return export_weights(PRETRAINED, out / "landscapes32.safetensors", sampler="ddim", steps=50, eta=0.0), out


@pytest.fixture(scope="module")
def pt_file(shared):
    "The pretrained weights as a `.pt` file, the format the library wrote before safetensors."
    _, out = shared
    return export_weights(PRETRAINED, out / "landscapes32.pt")


def test_the_safetensors_file_holds_config_sampler_and_sha256_as_metadata(shared):
    path, _ = shared
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f: meta = f.metadata()
    assert {"format", "config", "sha256", "step"} <= set(meta)
    cfg = json.loads(meta["config"])
    assert (cfg["sampler"], cfg["sample_steps"], cfg["sample_eta"]) == ("ddim", 50, 0.0)
    assert path.stat().st_size <= 10 * 2 ** 20
    assert config_from(load_checkpoint(path)).prediction == config_from(load_checkpoint(PRETRAINED)).prediction


def test_the_safetensors_file_loads_without_unpickling(shared, monkeypatch):
    path, _ = shared
    def refuse(*args, **kwargs): raise AssertionError("something unpickled")
    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")]:
        monkeypatch.setattr(module, name, refuse)
    model, _, cfg = model_from_checkpoint(path)
    assert cfg.sampler == "ddim" and sum(p.numel() for p in model.parameters()) > 10 ** 6


def test_pt_files_are_still_read_and_sample_the_same(shared, pt_file):
    path, _ = shared
    assert pt_file.suffix == ".pt" and load_checkpoint(pt_file)["format"] == load_checkpoint(path)["format"]
    ours = sample_images(path, n=2, sampler="dpm++", steps=5, eta=0.0)
    assert torch.equal(ours, sample_images(pt_file, n=2, sampler="dpm++", steps=5, eta=0.0))


@pytest.mark.parametrize("where", ["weights", "header"])
def test_a_flipped_byte_is_refused_in_one_line(shared, where):
    path, out = shared
    data = bytearray(path.read_bytes())
    data[-1000 if where == "weights" else 40] ^= 1
    (out / f"flipped-{where}.safetensors").write_bytes(data)
    r = cli("sample", "--ckpt", out / f"flipped-{where}.safetensors", "--n", 1, "--out", out / "x.png")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert ("is damaged" if where == "weights" else "flipped-header.safetensors") in r.stderr, r.stderr
    with pytest.raises(CheckpointError): load_checkpoint(out / f"flipped-{where}.safetensors")


def test_a_safetensors_file_without_its_sha256_is_refused(shared):
    path, out = shared
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f: meta = f.metadata()
    save_file(load_file(path), out / "unsigned.safetensors", metadata={k: v for k, v in meta.items() if k != "sha256"})
    with pytest.raises(CheckpointError, match="is damaged"): load_checkpoint(out / "unsigned.safetensors")


def test_the_command_line_exports_a_pt_file_as_safetensors(shared, pt_file):
    _, out = shared
    r = cli("export", "--ckpt", pt_file, "--out", out / "cli.safetensors")
    assert r.returncode == 0, r.stderr
    ours, theirs = load_checkpoint(out / "cli.safetensors"), load_checkpoint(pt_file)  # each checked by its SHA-256
    assert ours["model"].keys() == theirs["model"].keys()
    assert all(torch.equal(ours["model"][k], theirs["model"][k]) for k in ours["model"])
