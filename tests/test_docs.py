"""The documentation site, built offline the way README says, checked in headless Chromium: every page loads with no
console error and no request to the network, every image loads, every internal link (and its #anchor) resolves, and
the index shows the sample grid. README.md is what nbs/index.ipynb renders."""
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_docs"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def build(*args):
    r = subprocess.run([sys.executable, "tools/build_docs.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def test_readme_is_what_the_index_notebook_renders():
    assert "README.md is what nbs/index.ipynb renders" in build("--check-readme")


@pytest.fixture(scope="module")
def site():
    build("--site-only")
    return SITE


def test_every_notebook_is_a_page_in_lesson_order(site):
    pages = sorted(p.stem for p in site.glob("*.html"))  # named as nbdev names them: by module
    assert pages == sorted(["index", "unet", "diffusion", "synthetic", "data", "train", "evaluate", "config", "device", "checkpoint", "play", "cli"])
    index = (site / "index.html").read_text()
    order = [index.index(f'href="{page}.html"') for page in ["index", "unet", "diffusion", "data", "train", "cli"]]
    assert order == sorted(order)  # the sidebar in lesson order
    assert 'href="train.html#trainer"' in index  # nbdev's links to a name's reference, kept inside the site
    diffusion = (site / "diffusion.html").read_text()
    assert "<math" in diffusion and "$$" not in diffusion  # math as MathML, no script needed
    unet = (site / "unet.html").read_text()
    assert "class=\"title\">The UNet" in unet and "<h3 id=\"doubleconv\">DoubleConv" in unet  # a show_doc reference for an exported class


@pytest.mark.skipif(not CHROMIUM and not os.environ.get("LANDSCAPE_DIFFUSION_REQUIRE_BROWSER"),
                    reason="no Chromium here (apt-get install chromium); CI installs it and sets LANDSCAPE_DIFFUSION_REQUIRE_BROWSER")
def test_pages_load_in_a_headless_browser_with_every_image_and_link(site):
    from playwright.sync_api import sync_playwright
    assert CHROMIUM, "LANDSCAPE_DIFFUSION_REQUIRE_BROWSER is set but there is no chromium"
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                                                     "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"script: {e}"))
        page.route("http*://**", lambda route: (problems.append(f"network: {route.request.url}"), route.abort()))
        for html in sorted(site.glob("*.html")):
            page.goto(html.as_uri(), wait_until="load")
            broken = page.evaluate("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80))")
            problems += [f"{html.name}: image {b}" for b in broken]
            for href in page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)"):
                url = urlparse(href)
                if url.scheme != "file": continue
                target = Path(unquote(url.path))
                if not target.is_file(): problems.append(f"{html.name}: link to missing {target.name}")
                elif url.fragment and f'id="{unquote(url.fragment)}"' not in target.read_text(errors="ignore"):
                    problems.append(f"{html.name}: link to missing anchor {target.name}#{url.fragment}")
            if html.stem == "index":
                widths = page.evaluate("[...document.images].filter(i => i.src.includes('landscapes32')).map(i => i.naturalWidth)")
                assert widths and widths[0] >= 1000, widths  # the pretrained model's sample grid, 128 px per image
            if html.stem in ("index", "train"):
                (site / "screenshots").mkdir(exist_ok=True)
                page.screenshot(path=str(site / "screenshots" / f"{html.stem}.png"), full_page=html.stem == "index")
        browser.close()
    assert not problems, "\n".join(problems[:30])
