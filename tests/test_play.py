"The play commands on a tiny checkpoint: each writes the picture it names, at the size it says; bad photos, masks and options get one line."
import subprocess
import sys

import pytest
from PIL import Image

from landscape_diffusion.config import get_config
from landscape_diffusion.synthetic import synthetic_landscapes
from landscape_diffusion.train import train

CLI = [sys.executable, "-m", "landscape_diffusion"]


def cli(*args, check=True):
    r = subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=300)
    if check: assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    "A tiny checkpoint, two photos of other sizes than the model's, and masks."
    root = tmp_path_factory.mktemp("play")
    train(get_config("tiny", epochs=1, out=str(root / "run")), progress="none")
    a, b = synthetic_landscapes(2, 64, seed=3).permute(0, 2, 3, 1).numpy()
    Image.fromarray(a).resize((96, 64)).save(root / "a.jpg")
    Image.fromarray(b).save(root / "b.png")
    Image.fromarray(b).resize((20, 16)).save(root / "small.png")
    mask = Image.new("L", (96, 64)); mask.paste(255, (0, 0, 96, 20)); mask.save(root / "mask.png")
    Image.new("L", (50, 50)).save(root / "odd_mask.png")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def test_animate_writes_a_gif_of_enlarged_frames(files):
    out = files / "denoise.gif"
    r = cli("animate", "--ckpt", files / "run" / "checkpoint.pt", "--n", 3, "--steps", 6, "--frames", 4, "--out", out)
    assert "wrote" in r.stdout and "4 frames" in r.stdout
    gif = Image.open(out)
    assert gif.n_frames == 4 and gif.size == (4 * (3 * 33 + 1), 4 * (2 * 33 + 1))  # 3 images over their 3 predictions, x4


def test_interpolate_between_samples_and_between_photos(files):
    ckpt = files / "run" / "checkpoint.pt"
    cli("interpolate", "--ckpt", ckpt, "--n", 5, "--steps", 5, "--tile", 0, "--out", files / "walk.png")
    assert Image.open(files / "walk.png").size == (5 * 33 + 1, 33 + 1)
    cli("interpolate", "--ckpt", ckpt, "--n", 4, "--steps", 5, "--from", files / "a.jpg", "--to", files / "b.png", "--out", files / "photos.png")
    assert Image.open(files / "photos.png").size == (4 * (4 * 33 + 1), 4 * 34)


def test_inpaint_keeps_the_photo_outside_the_mask(files):
    ckpt = files / "run" / "checkpoint.pt"
    for mask in ("center", files / "mask.png"):
        out = files / "filled.png"
        r = cli("inpaint", "--ckpt", ckpt, "--image", files / "a.jpg", "--mask", mask, "--n", 2, "--steps", 8, "--jump", 2,
                "--resample", 2, "--tile", 0, "--out", out)
        assert "the photo and 2 fills" in r.stdout
    grid = Image.open(files / "filled.png").convert("RGB")
    assert grid.size == (3 * 33 + 1, 34)
    masked, fill = grid.crop((1, 1, 33, 33)), grid.crop((34, 1, 66, 33))
    assert masked.getpixel((5, 30)) == fill.getpixel((5, 30))  # below the mask's white band: the photo itself
    assert masked.getpixel((5, 2)) == (128, 128, 128)  # the masked part shown grey


def test_outpaint_widens_by_the_pixels_asked(files):
    cli("outpaint", "--ckpt", files / "run" / "checkpoint.pt", "--image", files / "b.png", "--extra", 20, "--side", "left",
        "--n", 2, "--steps", 6, "--jump", 3, "--resample", 2, "--tile", 0, "--out", files / "wider.png")
    assert Image.open(files / "wider.png").size == (52 + 2, 2 * 33 + 1)


@pytest.mark.parametrize("args, message", [
    (["inpaint", "--image", "missing.jpg"], "no image at missing.jpg"),
    (["inpaint", "--image", "corrupt.jpg"], "not a readable image"),
    (["inpaint", "--image", "small.png"], "is 20x16, smaller than the model's 32x32 images"),
    (["inpaint", "--image", "a.jpg", "--mask", "odd_mask.png"], "is 50x50 but the photo is 96x64"),
    (["inpaint", "--image", "a.jpg", "--mask", "sky"], "neither a file nor one of top, bottom"),
    (["interpolate", "--from", "a.jpg"], "--from and --to go together"),
    (["interpolate", "--from", "a.jpg", "--to", "missing.png"], "no image at missing.png"),
    (["animate", "--out", "denoise.png"], "give a file ending in .gif"),
    (["animate", "--frames", "0"], "--frames must be at least 1"),
    (["inpaint", "--image", "a.jpg", "--steps", "2000"], "between 1 and 1000"),
    (["outpaint", "--image", "a.jpg", "--extra", "0"], "--extra must be between 1 and 256"),
])
def test_bad_input_gets_one_line(files, monkeypatch, args, message):
    monkeypatch.chdir(files)
    r = cli(args[0], "--ckpt", files / "run" / "checkpoint.pt", *args[1:], check=False)
    assert r.returncode in (1, 2) and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
