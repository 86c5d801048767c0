"Bad and unusual input to the data pipeline: a clear error or a reported skip, never a crash deep in PIL or torch."
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from landscape_diffusion.data import DataError, load_images, load_folder
from landscape_diffusion.images import decode_image

RED = (200, 30, 40)


def solid(size=(64, 48), colour=RED):
    return Image.new("RGB", size, colour)


def load(folder, tmp_path, size=32):
    return load_folder(folder, size, cache_dir=tmp_path / "cache")


def png_header_only(path, width, height):
    "A PNG whose header claims width x height pixels: a decompression bomb that costs nothing to write."
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="nowhere.*does not exist"):
        load(tmp_path / "nowhere", tmp_path)


def test_empty_folder_names_what_was_looked_for(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no images in .*empty.*\.jpg"):
        load(tmp_path / "empty", tmp_path)


def test_folder_without_images(tmp_path):
    d = tmp_path / "docs"; d.mkdir()
    (d / "notes.txt").write_text("hello"); (d / "data.csv").write_text("1,2")
    with pytest.raises(DataError, match="no images in"):
        load(d, tmp_path)


def test_folder_where_nothing_decodes(tmp_path):
    d = tmp_path / "bad"; d.mkdir()
    (d / "a.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match="none of the 1 image files could be decoded"):
        load(d, tmp_path)


def test_corrupt_truncated_and_fake_files_are_skipped_and_listed(tmp_path):
    d = tmp_path / "mixed"; d.mkdir()
    solid().save(d / "good.jpg", quality=95)
    full = (d / "good.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (d / "text.png").write_text("this is not a png")
    (d / "zero.webp").write_bytes(b"")
    images, summary = load(d, tmp_path)
    assert images.shape == (1, 3, 32, 32)
    skipped = {name.split("/")[-1] for name, _ in summary.skipped}
    assert skipped == {"truncated.jpg", "text.png", "zero.webp"}
    text = str(summary)
    assert "skipped: 3" in text and "truncated.jpg" in text and "text.png" in text


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "LA", "1"])
def test_every_pil_mode_becomes_rgb(tmp_path, mode):
    if mode == "I;16":
        img, ext, expected = Image.fromarray(np.full((40, 40), 40000, dtype=np.uint16)), "png", [156] * 3
    elif mode == "CMYK":
        img, ext, expected = Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "jpg", [255, 0, 0]
    elif mode == "RGBA":
        img, ext, expected = Image.new("RGBA", (40, 40), (*RED, 255)), "png", list(RED)
    elif mode == "LA":
        img, ext, expected = Image.new("LA", (40, 40), (0, 0)), "png", [255] * 3  # fully transparent -> white
    elif mode == "1":
        img, ext, expected = Image.new("1", (40, 40), 1), "bmp", [255] * 3
    else:
        img, ext, expected = solid((40, 40)).convert(mode), "png", None
        expected = np.asarray(img.convert("RGB")).reshape(-1, 3).mean(0)  # palette images are dithered
    path = tmp_path / f"img.{ext}"
    img.save(path)
    dec = decode_image(path, 32)
    assert dec.skipped is None, dec.skipped
    assert dec.pixels.shape == (32, 32, 3) and dec.pixels.dtype == np.uint8
    assert np.abs(dec.pixels.reshape(-1, 3).astype(int).mean(0) - expected).max() <= 3, (dec.pixels[0, 0], expected)


def test_small_images_are_upscaled_and_counted(tmp_path):
    d = tmp_path / "small"; d.mkdir()
    solid((10, 12)).save(d / "tiny.png"); solid((100, 80)).save(d / "big.png")
    images, summary = load(d, tmp_path, size=64)
    assert images.shape == (2, 3, 64, 64)
    assert summary.upscaled == 1 and "1 upscaled" in str(summary)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (60, 30), (0, 0, 255)); img.paste((255, 0, 0), (0, 0, 30, 30))  # red left, blue right
    exif = Image.Exif(); exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    img.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    px = decode_image(tmp_path / "phone.jpg", 30).pixels.astype(int)
    assert px.shape == (30, 30, 3)
    top, bottom = px[:4].mean((0, 1)), px[-4:].mean((0, 1))  # after rotation, red is on top
    assert top[0] > 200 and bottom[2] > 200, (top, bottom)


def test_decompression_bomb_is_refused_and_counted(tmp_path):
    d = tmp_path / "bomb"; d.mkdir()
    png_header_only(d / "bomb.png", 100_000, 100_000)
    solid().save(d / "fine.png")
    images, summary = load(d, tmp_path)
    assert len(images) == 1
    (name, why), = summary.skipped
    assert name.endswith("bomb.png") and "decompression bomb" in why


def test_cache_is_reused_and_rebuilt_when_the_folder_changes(tmp_path):
    d = tmp_path / "photos"; d.mkdir()
    for i in range(3): solid(colour=(i * 60, 0, 0)).save(d / f"{i}.png")
    first = load(d, tmp_path)
    second = load(d, tmp_path)
    assert not first[1].from_cache and second[1].from_cache
    assert torch.equal(first[0], second[0])
    solid(colour=(0, 0, 250)).save(d / "1.png")  # edited file: new size/mtime -> new key
    third = load(d, tmp_path)
    assert not third[1].from_cache and not torch.equal(third[0], first[0])
    assert len(list((tmp_path / "cache").glob("*.tmp"))) == 0


def test_kaggle_uses_the_pinned_handle_and_the_returned_folder(tmp_path):
    d = tmp_path / "kaggle" / "landscapes"; d.mkdir(parents=True)
    solid().save(d / "a.jpg")
    asked = []
    images, summary = load_images("kaggle", 32, cache_dir=tmp_path / "cache",
                                  download=lambda handle: asked.append(handle) or str(tmp_path / "kaggle"))
    assert asked == ["arnaud58/landscape-pictures/versions/2"]
    assert images.shape == (1, 3, 32, 32)


def test_kaggle_failure_names_the_alternatives(tmp_path):
    def no_network(handle): raise ConnectionError("Name or service not known")
    with pytest.raises(DataError, match=r"Name or service not known.*--data PATH.*--data synthetic"):
        load_images("kaggle", download=no_network)


def test_npz_loads_like_a_cached_folder_and_bad_npz_is_explained(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (5, 3, 32, 32), dtype=np.uint8)
    np.savez(tmp_path / "good.npz", images=arr)
    images, summary = load_images(str(tmp_path / "good.npz"), 32)
    assert torch.equal(images, torch.from_numpy(arr)) and summary.n_images == 5
    with pytest.raises(DataError, match="holds 32px images, but 64px ones are needed here.*pass --size 32"):
        load_images(str(tmp_path / "good.npz"), 64)
    np.savez(tmp_path / "wrong.npz", pictures=arr)
    with pytest.raises(DataError, match="must hold a uint8 array 'images'"):
        load_images(str(tmp_path / "wrong.npz"), 32)
    (tmp_path / "broken.npz").write_bytes(b"nope")
    with pytest.raises(DataError, match="not an .npz archive"):
        load_images(str(tmp_path / "broken.npz"), 32)
