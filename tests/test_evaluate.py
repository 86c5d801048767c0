"The evaluate command end to end, offline: a table, a JSON file, and clear errors."
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from landscape_diffusion.config import get_config
from landscape_diffusion.synthetic import synthetic_landscapes
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
    assert res["swd_32px"] > res["swd_floor_32px"] and res["swd_16px"] > res["swd_floor_16px"]  # each level has its floor
    assert 0 < res["sharpness"] < 10


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


def test_training_never_sees_the_held_out_photos_and_evaluate_scores_against_them(tmp_path):
    "On real images (an .npz here) every 10th is held out: training uses the rest, `evaluate` compares with the held-out part by default."
    photos = tmp_path / "photos.npz"
    np.savez(photos, images=synthetic_landscapes(50, 32, seed=7).numpy())
    out = tmp_path / "run"
    r = subprocess.run(CLI + ["train", "--preset", "tiny", "--data", str(photos), "--epochs", "1", "--out", str(out), "--progress", "lines"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "images used: 45 " in r.stdout and "held out for evaluation, never trained on: 5" in r.stdout, r.stdout
    results = {}
    for split in ("held-out", "train", "all"):
        r = subprocess.run(CLI + ["evaluate", "--ckpt", str(out / "checkpoint.pt"), "--data", str(photos), "--n", "8", "--split", split,
                                  "--json", str(tmp_path / f"{split}.json")], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        results[split] = json.loads((tmp_path / f"{split}.json").read_text())
    assert [results[s]["n_real"] for s in ("held-out", "train", "all")] == [5, 45, 50]
    assert results["held-out"]["split"] == "held-out" and 0 < results["held-out"]["saturation"] <= 1
    assert {"colour_mean_error", "saturation_w1", "real_saturation"} <= set(results["held-out"])


def test_a_run_that_trained_on_every_photo_is_not_scored_on_a_held_out_part_it_saw(checkpoint, tmp_path):
    "Checkpoints written before the split existed trained on everything: evaluating them on 'held-out' photos would score training images."
    state = torch.load(checkpoint, weights_only=True)
    del state["config"]["holdout_every"]
    old = tmp_path / "old.pt"
    torch.save(state, old)
    np.savez(tmp_path / "photos.npz", images=synthetic_landscapes(30, 32, seed=7).numpy())
    r = subprocess.run(CLI + ["evaluate", "--ckpt", str(old), "--data", str(tmp_path / "photos.npz"), "--n", "4"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "the run trained on every image (holdout_every 0)" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_copies_are_looked_for_among_the_training_photos_not_the_held_out_ones(checkpoint, tmp_path, monkeypatch):
    "A model cannot copy photos it never saw: `evaluate` scores quality on the held-out part and memorisation on the training part."
    import landscape_diffusion.evaluate as ev
    seen = {}
    real_memorisation = ev.memorisation
    monkeypatch.setattr(ev, "memorisation", lambda generated, train: seen.setdefault("n", len(train)) and real_memorisation(generated, train))
    np.savez(tmp_path / "photos.npz", images=synthetic_landscapes(30, 32, seed=7).numpy())
    result = ev.evaluate(checkpoint, str(tmp_path / "photos.npz"), n=4, steps=2, metrics=("swd", "memorisation"))
    assert result["n_real"] == 3 and seen["n"] == 27
    train_part = synthetic_landscapes(30, 32, seed=7)[[i for i in range(30) if i % 10 != 9]]
    copies = ev.evaluate_images(train_part[:4], train_part[:3], ("memorisation",), train=train_part)
    assert copies["memorisation_min_ratio"] == 0


def test_a_silent_server_is_given_up_on_in_time_and_leaves_no_file(tmp_path):
    "The Inception download's timeout is the request's own: a server that accepts and never answers ends it in time."
    import socket
    import time
    from landscape_diffusion.evaluate import _download
    with socket.create_server(("127.0.0.1", 0)) as server:  # the kernel accepts the connection; nobody ever answers
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            _download(f"http://127.0.0.1:{server.getsockname()[1]}/w.pth", tmp_path / "w.pth", timeout=0.5)
        assert 0.4 < time.monotonic() - started < 10  # it waited for the answer, then gave up
    assert list(tmp_path.iterdir()) == []
    assert socket.getdefaulttimeout() is None  # nothing process-wide was changed


def test_a_download_cut_off_midway_leaves_no_file(tmp_path):
    "A server that sends half the file and falls silent: the request times out and no partial file is left."
    import socket
    import threading
    from landscape_diffusion.evaluate import _download
    with socket.create_server(("127.0.0.1", 0)) as server:
        def half_then_silence():
            conn, _ = server.accept()
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 500)
            done.wait(30); conn.close()
        done = threading.Event()
        threading.Thread(target=half_then_silence, daemon=True).start()
        try:
            with pytest.raises(TimeoutError):
                _download(f"http://127.0.0.1:{server.getsockname()[1]}/w.pth", tmp_path / "w.pth", timeout=0.5)
        finally: done.set()
    assert list(tmp_path.iterdir()) == []


def test_the_download_streams_the_file_into_place(tmp_path):
    import functools
    import http.server
    import threading
    from landscape_diffusion.evaluate import _download
    served = tmp_path / "served"; served.mkdir()
    (served / "w.pth").write_bytes(os.urandom(3 << 20))
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    handler = functools.partial(Quiet, directory=str(served))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try: _download(f"http://127.0.0.1:{httpd.server_address[1]}/w.pth", tmp_path / "got" / "w.pth", timeout=5)
        finally: httpd.shutdown()
    assert (tmp_path / "got" / "w.pth").read_bytes() == (served / "w.pth").read_bytes()
    assert [p.name for p in (tmp_path / "got").iterdir()] == ["w.pth"]
