"The wheel and sdist as pip builds them, installed where the source tree is out of reach, train and sample."
import os
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*cmd, cwd=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the source tree out of reach, even for a developer's shell
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=900, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def site_packages() -> list:
    "Where this interpreter's packages are, whether it is a virtual environment or not (`--system-site-packages` would give the base's)."
    user = [site.getusersitepackages()] if site.ENABLE_USER_SITE else []
    return [p for p in site.getsitepackages() + user if Path(p).is_dir()]


def test_wheel_installs_into_a_fresh_environment_and_runs(tmp_path):
    # no build isolation: the build tools come from this environment, since the tests have no network
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp_path / "dist", ROOT)
    wheel, = (tmp_path / "dist").glob("landscape_diffusion-*.whl")
    sdist, = (tmp_path / "dist").glob("landscape_diffusion-*.tar.gz")
    modules = {Path(n).name for n in zipfile.ZipFile(wheel).namelist() if n.startswith("landscape_diffusion/")}
    assert {p.name for p in (ROOT / "landscape_diffusion").glob("*.py")} <= modules
    assert any(n.endswith("/settings.ini") for n in tarfile.open(sdist).getnames())  # setup.py reads it
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python, cli = venv / "bin" / "python", venv / "bin" / "landscape-diffusion"
    packages = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    Path(packages, "running-interpreter.pth").write_text("\n".join(site_packages()) + "\n")  # torch and friends from here
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    elsewhere = tmp_path / "elsewhere"; elsewhere.mkdir()
    where = run(python, "-c", "import landscape_diffusion; print(landscape_diffusion.__file__)", cwd=elsewhere)
    assert where.startswith(str(venv)), where
    out = run(cli, "train", "--preset", "tiny", "--epochs", "1", "--out", "run", "--progress", "lines", cwd=elsewhere)
    assert "epoch 1/1" in out and (elsewhere / "run" / "checkpoint.pt").exists()
    run(cli, "sample", "--ckpt", "run/checkpoint.pt", "--n", "4", "--out", "grid.png", cwd=elsewhere)
    assert (elsewhere / "grid.png").stat().st_size > 0
    assert "max gradient norm" in run(cli, "train", "--help", cwd=elsewhere)  # the options' help comes from the fields' metadata, no source needed
