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
    assert pages == sorted(["index", "patch", "unet", "diffusion", "synthetic", "images", "files", "data", "config", "device",
                            "checkpoint", "runs", "track",
                            "train", "evaluate", "play", "cli"])
    index = (site / "index.html").read_text()
    order = [index.index(f'href="{page}.html"') for page in ["index", "patch", "unet", "images", "diffusion", "data", "config", "checkpoint", "train", "cli"]]
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


# ---------------------------------------------------------------- issue 26: what notebooks bring is not trusted
@pytest.fixture
def builder(monkeypatch):
    "tools/build_docs.py as a module, run from the repository root (where nbdev finds settings.ini)."
    import importlib.util
    monkeypatch.chdir(ROOT)
    spec = importlib.util.spec_from_file_location("build_docs", ROOT / "tools" / "build_docs.py")
    spec.loader.exec_module(build_docs := importlib.util.module_from_spec(spec))
    return build_docs


def processed_notebook(folder, cells, output_file="hostile.html", name="hostile"):
    "A notebook as nbdev's processing leaves it (front matter first), written into `folder`."
    import nbformat
    from nbformat.v4 import new_notebook, new_raw_cell
    folder.mkdir(exist_ok=True)
    front = f"---\ntitle: Hostile <b>page</b>\ndescription: \"<script>alert('lead')</script> a lead\"\noutput-file: '{output_file}'\n---"
    nbformat.write(new_notebook(cells=[new_raw_cell(front), *cells]), folder / f"{name}.ipynb")
    return folder


def hostile_cells(secret):
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_output
    outside = os.path.relpath(secret, ROOT)  # ../../tmp/...: a file outside the repository
    markdown = ("<script>alert('markdown')</script>\n\n<img src=\"x.png\" onerror=\"alert('img')\">\n\n"
                "<a href=\"javascript:alert('link')\">click</a> <iframe src=\"https://example.com\"></iframe>\n\n"
                f"![outside]({outside}) ![remote](https://example.com/x.png) ![kept](../settings.ini) ![hidden](../.gitignore)\n\n"
                "Kept: <b>bold</b>, $x^2$ and `a<b>c`.")
    output = new_output("display_data", data={"text/html": "<i onclick=\"alert('html')\">it</i><script>alert('output')</script>",
                                              "application/javascript": "alert('js')", "text/plain": "x"})
    return [new_markdown_cell(markdown), new_code_cell("x", outputs=[output])]


def test_item11_hostile_notebook_html_is_sanitised_and_nothing_lands_outside_the_site(builder, tmp_path):
    secret = tmp_path / "outside" / "secret.png"; secret.parent.mkdir(); secret.write_bytes(b"secret")
    out = tmp_path / "site"
    builder.build_site(processed_notebook(tmp_path / "proc", hostile_cells(secret)), out)
    page = (out / "hostile.html").read_text()
    for bad in ["<script", "<iframe", "onerror", "onclick", "javascript:", "alert('js')", 'src="https://example.com/x.png', "secret.png"]:
        assert bad not in page, bad
    assert "&lt;script&gt;alert('markdown')" in page  # shown as text, not run
    assert "<b>bold</b>" in page and "<i>it</i>" in page and "<math" in page and "<code>a&lt;b&gt;c</code>" in page
    assert 'src="settings.ini"' in page and (out / "settings.ini").is_file() and not (out / ".gitignore").exists()
    assert not (out / os.path.relpath(secret, ROOT)).resolve().exists()  # the old builder copied it there
    assert {p.name for p in out.rglob("*")} == {"hostile.html", "style.css", "settings.ini"}


@pytest.mark.parametrize("output_file", ["../escaped.html", "x\" onmouseover=\"alert(1).html", "sub/page.html"])
def test_item11_an_output_file_that_is_not_a_plain_page_name_is_refused(builder, tmp_path, output_file):
    with pytest.raises(SystemExit, match="is not a plain page name"):
        builder.build_site(processed_notebook(tmp_path / "proc", [], output_file), tmp_path / "a" / "site")
    assert not (tmp_path / "a" / "escaped.html").exists()


def test_item6_the_builder_deletes_only_its_own_earlier_output(builder, tmp_path, monkeypatch):
    import nbdev.serve
    from nbformat.v4 import new_markdown_cell
    first = processed_notebook(tmp_path / "first", [new_markdown_cell("one")], "one.html")
    second = processed_notebook(tmp_path / "second", [new_markdown_cell("two")], "two.html")
    out = tmp_path / "mine"; out.mkdir(); (out / "thesis.tex").write_text("a year of work")
    monkeypatch.setattr(nbdev.serve, "proc_nbs", lambda *a, **k: first)
    with pytest.raises(SystemExit, match="is not an empty folder.*nothing was deleted"): builder.main(["--site-only", "--out", str(out)])
    assert (out / "thesis.tex").read_text() == "a year of work"
    site = tmp_path / "site"
    builder.main(["--site-only", "--out", str(site)])
    (site / "notes.txt").write_text("mine"); (site / "screens").mkdir(); (site / "screens" / "a.png").write_bytes(b"png")
    monkeypatch.setattr(nbdev.serve, "proc_nbs", lambda *a, **k: second)
    builder.main(["--site-only", "--out", str(site)])  # a rebuild: its own old pages go, the rest stays
    assert not (site / "one.html").exists() and (site / "two.html").exists()
    assert (site / "notes.txt").exists() and (site / "screens" / "a.png").exists()
