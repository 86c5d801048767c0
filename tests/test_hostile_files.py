"Hostile and careless files (issue 26): only this project's image decoders ever run, whatever a file's content claims."
import os

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
