"Hostile and careless files (issue 26): only this project's image decoders ever run, whatever a file's content claims."
import os
import subprocess
import sys

import pytest
from PIL import EpsImagePlugin, Image

from landscape_diffusion.data import DataError, load_folder
from landscape_diffusion.play import load_mask, load_photo

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n0 0 moveto 64 64 lineto stroke\nshowpage\n%%EOF\n"


@pytest.fixture
def ghostscript(tmp_path, monkeypatch):
    "A stand-in `gs` first on PATH that writes down each call (and renders nothing); returns the file it writes."
    bin_dir, calls = tmp_path / "bin", tmp_path / "gs-calls"
    bin_dir.mkdir()
    (bin_dir / "gs").write_text(f"#!/bin/sh\necho \"$@\" >> '{calls}'\n[ \"$1\" = --version ] && echo 10.05 || exit 1\n")
    (bin_dir / "gs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # PIL looks for gs once per process
    return calls


def eps_named_photo(folder):
    "An EPS file named photo.jpg, beside a real photo; PIL unrestricted hands it to Ghostscript."
    folder.mkdir()
    Image.new("RGB", (64, 64), "green").save(folder / "real.png")
    (folder / "photo.jpg").write_bytes(EPS)
    return folder / "photo.jpg"


def test_item1_the_stand_in_ghostscript_is_what_pil_would_run(tmp_path, ghostscript):
    eps = eps_named_photo(tmp_path / "photos")
    with pytest.raises(Exception), Image.open(eps) as im: im.load()  # unrestricted, PIL runs gs
    assert ghostscript.exists()  # so its absence below means that Ghostscript never ran


def test_item1_an_eps_photo_in_a_data_folder_is_skipped_and_never_reaches_ghostscript(tmp_path, ghostscript):
    eps = eps_named_photo(tmp_path / "photos")
    images, summary = load_folder(eps.parent, 32, cache_dir=tmp_path / "cache")
    assert len(images) == 1 and [f for f, _ in summary.skipped] == [str(eps)]
    assert "JPEG, PNG, WEBP, BMP, GIF, TIFF" in summary.skipped[0][1], summary.skipped
    assert not ghostscript.exists(), ghostscript.read_text()


@pytest.mark.parametrize("role", ["photo", "mask"])
def test_item1_an_eps_photo_or_mask_to_play_is_one_line_and_never_reaches_ghostscript(tmp_path, ghostscript, role):
    eps = eps_named_photo(tmp_path / "photos")
    real = eps.parent / "real.png"
    with pytest.raises(DataError) as refused:
        if role == "photo": load_photo(eps, 32)
        else: load_mask(str(eps), real, 32)
    assert "photo.jpg" in str(refused.value) and "\n" not in str(refused.value)
    assert not ghostscript.exists(), ghostscript.read_text()


def test_item8_a_truncated_mask_is_one_line_not_an_attribute_error(tmp_path):
    Image.new("RGB", (96, 64), "green").save(tmp_path / "photo.png")
    Image.new("L", (96, 64), 255).save(tmp_path / "mask.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "mask.png").read_bytes()[:60])  # the header survived, the pixels did not
    with pytest.raises(DataError, match=r"cut.png is not a readable image .*: give another image file$"):
        load_mask(str(tmp_path / "cut.png"), tmp_path / "photo.png", 32)


def test_item13_a_mask_drawn_on_a_sideways_stored_photo_as_viewers_show_it_is_used(tmp_path):
    exif = Image.Exif(); exif[0x0112] = 6  # stored 96x64, shown turned a quarter: 64 wide, 96 high
    Image.new("RGB", (96, 64), "green").save(tmp_path / "phone.jpg", exif=exif)
    mask = Image.new("L", (64, 96)); mask.paste(255, (0, 0, 64, 48)); mask.save(tmp_path / "sky.png")  # the upper half as shown
    filled = load_mask(str(tmp_path / "sky.png"), tmp_path / "phone.jpg", 32)[0, 0]
    assert filled[:10].all() and not filled[-10:].any()  # the photo is decoded upright, and so is the mask
    Image.new("L", (96, 64)).save(tmp_path / "stored.png")
    with pytest.raises(DataError, match="is 96x64 but the photo is 64x96"): load_mask(str(tmp_path / "stored.png"), tmp_path / "phone.jpg", 32)


def three_photos(folder):
    folder.mkdir()
    for i, colour in enumerate(["red", "green", "blue"]): Image.new("RGB", (40, 40), colour).save(folder / f"{i}.png")
    return folder


def test_item4_a_symlink_loop_adds_no_image_twice(tmp_path):
    photos = three_photos(tmp_path / "photos")
    (photos / "loop").symlink_to(".")  # photos/loop/loop/... : 3 files were 123 images
    (photos / "again.png").symlink_to("0.png")  # one file under two names counts once
    images, summary = load_folder(photos, 32, cache_dir=tmp_path / "cache")
    assert len(images) == 3 and not summary.skipped


def test_item4_two_symlink_loops_end(tmp_path):
    code = ("import sys; from landscape_diffusion.data import list_images; "
            "print(len(list_images(sys.argv[1])))")
    photos = three_photos(tmp_path / "photos")
    (photos / "here").symlink_to("."); (photos / "sub").mkdir(); (photos / "sub" / "up").symlink_to("..")  # 2**40 paths
    r = subprocess.run([sys.executable, "-c", code, photos], capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "3", r.stderr[-2000:]


def test_item5_a_file_name_that_is_not_utf8_works(tmp_path):
    photos = three_photos(tmp_path / "photos")
    odd = os.path.join(os.fsencode(photos), b"caf\xe9.png")  # Latin-1 bytes, as an old camera or zip wrote them
    Image.new("RGB", (40, 40), "white").save(odd, format="PNG")
    with open(os.path.join(os.fsencode(photos), b"bad\xff.jpg"), "wb") as f: f.write(b"not an image")
    for from_cache in (False, True):
        images, summary = load_folder(photos, 32, cache_dir=tmp_path / "cache")
        assert len(images) == 4 and summary.from_cache == from_cache
        assert "bad\\xff.jpg" in str(summary) and str(summary).encode("utf-8")  # printable as it is
    r = subprocess.run([sys.executable, "-m", "landscape_diffusion", "data", photos, "--cache-dir", tmp_path / "cache"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "images used: 4" in r.stdout, r.stderr[-2000:]


def test_item13_an_empty_xdg_cache_home_is_unset_and_a_tilde_cache_dir_is_home(tmp_path, monkeypatch):
    from landscape_diffusion.data import default_cache_dir
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(); work.mkdir(); monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home)); monkeypatch.delenv("LANDSCAPE_DIFFUSION_CACHE", raising=False)
    for value in ("", "relative/cache"):  # the XDG specification: empty or relative means unset
        monkeypatch.setenv("XDG_CACHE_HOME", value)
        assert default_cache_dir() == home / ".cache" / "landscape_diffusion"
    load_folder(three_photos(tmp_path / "photos"), 32, cache_dir="~/x")
    assert len(list((home / "x").glob("*.npz"))) == 1 and not list(work.iterdir())  # no folder named ~ here


def test_item6_train_removes_only_temporaries_named_and_owned_as_its_own(tmp_path):
    from landscape_diffusion.files import remove_stale_temporaries, temporary_path
    gone = subprocess.Popen(["true"]); gone.wait()  # a process id that no longer runs
    folder = tmp_path / "run"; folder.mkdir()
    stale = temporary_path(folder / "checkpoint.pt", gone.pid); stale.write_bytes(b"half a checkpoint")
    users = [folder / f".notes.txt.{gone.pid}.tmp", folder / f".draft.{gone.pid}.tmp"]  # a user's files, named alike
    for f in users: f.write_text("keep me")
    (folder / "elsewhere").write_text("keep me too")
    linked = temporary_path(folder / "grid.png", gone.pid); linked.symlink_to(folder / "elsewhere")
    others = temporary_path(folder / "x.png", gone.pid); others.write_bytes(b"another user's")
    if os.geteuid() == 0: os.chown(others, 65534, 65534)  # another user's file, named as ours
    remove_stale_temporaries(folder)
    assert not stale.exists() and all(f.exists() for f in users) and linked.is_symlink() and (folder / "elsewhere").exists()
    assert others.exists() == (os.geteuid() == 0)


def test_item9_an_npz_that_expands_past_the_limit_is_refused_from_its_header(tmp_path):
    import tracemalloc
    import numpy as np
    from landscape_diffusion.data import load_npz_images
    bomb = tmp_path / "bomb.npz"
    np.savez_compressed(bomb, images=np.zeros((40_000, 3, 32, 32), np.uint8))  # 123 MB of zeros in 0.1 MB
    assert bomb.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"holds 40,000 images of 32x32 \(0.1 GB\), more than"):
            load_npz_images(bomb, 32, max_bytes=50 * 2**20)
        with pytest.raises(DataError, match="holds 32px images, but 64px ones are needed"): load_npz_images(bomb, 64)
        peak = tracemalloc.get_traced_memory()[1]
    finally: tracemalloc.stop()
    assert peak < 10 * 2**20, peak  # refused before the data was decompressed


def test_item9_a_padded_jpeg_is_refused_before_decoding(tmp_path):
    import time
    from landscape_diffusion.images import decode_image
    photo = tmp_path / "padded.jpg"
    Image.new("RGB", (64, 64), "blue").save(photo)
    with open(photo, "r+b") as f: f.truncate(200 * 2**20)  # a sparse 200 MB file: nothing to write, seconds to decode
    start = time.perf_counter()
    skipped = decode_image(photo, 32).skipped
    assert skipped and "more than a 64x64 image can take up" in skipped and time.perf_counter() - start < 0.5, skipped
