"""Every notebook run top to bottom in a fresh Jupyter kernel, as "Run all" does on Kaggle and Colab: no cell skipped
(the slow ones included), the parameters cells given tiny values. Also the install cell's three branches."""
import importlib.metadata
import importlib.util
import json
import subprocess
from configparser import ConfigParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from landscape_diffusion.synthetic import synthetic_landscapes

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("run_notebook", ROOT / "tools" / "run_notebook.py")
_spec.loader.exec_module(run_notebook := importlib.util.module_from_spec(_spec))
run_all = run_notebook.run_all  # as benchmarks/gpu.sh runs the training notebook

NOTEBOOKS = sorted((ROOT / "nbs").glob("*.ipynb"))
SETTINGS = ConfigParser(delimiters=["="]); SETTINGS.read(ROOT / "settings.ini")
# values for each parameters cell: small enough for two CPU cores, the same code paths as the defaults
TINY = {"02_data": 'photos = "kaggle"', "03_train": 'preset, data, epochs = "tiny", "kaggle", 2', "04_evaluate": 'preset, n = "tiny", 16'}


def kaggle_machine(tmp_path, monkeypatch):
    "A Kaggle notebook's machine: the photos attached under input/, a writable working/, Kaggle's variables, no network."
    root = tmp_path / "kaggle"
    photos = root / "input" / "landscape-pictures"; photos.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, img in enumerate(synthetic_landscapes(40, 64, seed=5).permute(0, 2, 3, 1).numpy()):
        w, h = (int(v) for v in rng.integers(48, 320, 2))  # mixed sizes and shapes, as photos come
        Image.fromarray(img).resize((w, h), Image.BICUBIC).save(photos / f"{i:04d}.jpg", quality=90)
    (root / "working").mkdir()
    monkeypatch.setenv("LANDSCAPE_DIFFUSION_KAGGLE_ROOT", str(root))
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    offline(tmp_path, monkeypatch)
    return root


def offline(tmp_path, monkeypatch):
    "No network (every proxy a closed local port) and no caches outside the test's folder."
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"): monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", ""); monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("MPLBACKEND", "agg")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_on_kaggle(path, tmp_path, monkeypatch):
    root = kaggle_machine(tmp_path, monkeypatch)
    nb = run_all(path, root / "working", TINY.get(path.stem))
    assert all(o.get("output_type") != "error" for c in nb.cells for o in c.get("outputs", []))
    if path.stem == "03_train":
        run = root / "working" / "runs" / "tiny"
        assert {"checkpoint.pt", "samples.png", "loss.png", "grids"} <= {p.name for p in run.iterdir()}
        text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
        assert "images used: 36 " in text and "held out for evaluation, never trained on: 4" in text and "one process on the CPU" in text


def test_training_notebook_runs_in_a_clone_like_colab(tmp_path, monkeypatch):
    offline(tmp_path, monkeypatch)
    out = tmp_path / "runs" / "tiny"
    nb = run_all(ROOT / "nbs" / "03_train.ipynb", ROOT / "nbs", f'preset, data, epochs, out = "tiny", "synthetic", 2, {str(out)!r}')
    assert (out / "checkpoint.pt").exists() and (out / "loss.png").exists()
    install = next(c for c in nb.cells if "# Installs the library" in c.source)
    assert "landscape_diffusion 0.1.0 is installed" in "".join(o.get("text", "") for o in install.outputs)


def install_cells():
    return {p.stem: next("".join(c["source"]) for c in json.loads(p.read_text())["cells"] if "# Installs the library" in "".join(c["source"]))
            for p in NOTEBOOKS}


def test_every_notebook_starts_with_the_same_install_cell_at_the_librarys_version():
    cells = install_cells()
    assert len(set(cells.values())) == 1, sorted(cells)
    cell = next(iter(cells.values()))
    assert f'version, repo = "{SETTINGS["DEFAULT"]["version"]}", "{SETTINGS["DEFAULT"]["git_url"]}"' in cell


@pytest.mark.parametrize("situation", ["clone", "kaggle-wheel", "repository", "installed"])
def test_install_cell_picks_the_source_the_situation_offers(situation, tmp_path, monkeypatch):
    cell = next(iter(install_cells().values()))
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda args: calls.append(args[5:]))  # after python -m pip install -q
    if situation != "installed":
        def missing(name): raise importlib.metadata.PackageNotFoundError(name)
        monkeypatch.setattr(importlib.metadata, "version", missing)
    here = tmp_path / "work"; (here / "nbs").mkdir(parents=True)
    if situation == "clone":
        (here / "settings.ini").write_text("[DEFAULT]\n"); (here / "landscape_diffusion").mkdir()
    monkeypatch.chdir(here / "nbs")
    kaggle = tmp_path / "kaggle"; monkeypatch.setenv("LANDSCAPE_DIFFUSION_KAGGLE_ROOT", str(kaggle))
    wheel = kaggle / "input" / "my-wheels" / "landscape_diffusion-0.1.0-py3-none-any.whl"
    if situation == "kaggle-wheel": wheel.parent.mkdir(parents=True); wheel.write_bytes(b"")
    exec(cell, {})
    expected = {"clone": [[str(here)]], "kaggle-wheel": [["--no-index", "--no-deps", str(wheel)]],
                "repository": [[f"git+{SETTINGS['DEFAULT']['git_url']}"]], "installed": []}[situation]
    assert calls == expected
