"""The documentation site and README.md, built offline from the notebooks.

nbdev prepares the notebooks as it does for its own sites (`proc_nbs`: a `show_doc` reference for every exported
name, hidden cells dropped, the title moved into front matter) into `_proc/`; nbconvert renders each into one page
of `_docs/`, with a sidebar in lesson order. Math becomes MathML while building, so the pages load no script and
nothing from the network. README.md is what `nbs/index.ipynb` renders to as Markdown.

What notebooks bring is not trusted: HTML from Markdown cells and outputs passes an allow-list of tags and attributes
(anything else is shown as text), script outputs are dropped, and nothing is written or copied outside --out. The
builder deletes only what an earlier build of its own wrote there (listed in the folder's MARKER file), and refuses
a folder that holds anything else but a build of its own.

    python tools/build_docs.py                 # README.md and _docs/ (open _docs/index.html)
    python tools/build_docs.py --check-readme  # exit 1 when README.md is not what nbs/index.ipynb renders
"""
import argparse
import html
import json
import os
import re
import shutil
import sys
from pathlib import Path

import bleach
import nbformat
import yaml
from jinja2 import pass_context
from latex2mathml.converter import convert as to_mathml
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from pygments.formatters import HtmlFormatter

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
PROJECT = "landscape_diffusion"


# ---------------------------------------------------------------- README.md from nbs/index.ipynb
def _directives(source: str) -> dict:
    "A cell's `#| name: value` lines."
    return {m[0]: m[1].strip() for m in re.findall(r"^#\|\s*([\w-]+):?(.*)$", source, re.M)}


def _without_directives(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.startswith("#|")).strip("\n")


def readme_markdown(index: Path = NBS / "index.ipynb") -> str:
    "The index notebook as GitHub Markdown: prose as written, code cells fenced with their text outputs; links fixed for the repository root."
    parts = []
    for cell in nbformat.read(index, as_version=4).cells:
        if cell.cell_type == "markdown":
            parts.append(re.sub(r"\]\(\.\./", "](", re.sub(r"\]\(([\w.-]+\.ipynb)", r"](nbs/\1", cell.source)))
        elif cell.cell_type == "code" and "hide" not in _directives(cell.source):
            parts.append(f"```python\n{_without_directives(cell.source)}\n```")
            text = "".join(o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", "")
                           for o in cell.outputs if "image/png" not in o.get("data", {}))
            if text.strip(): parts.append(f"```\n{text.rstrip()}\n```")
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


# ---------------------------------------------------------------- what notebooks bring, made safe
MATHML = {"math", "mi", "mn", "mo", "ms", "mtext", "mrow", "mfrac", "msqrt", "mroot", "msub", "msup", "msubsup", "munder",
          "mover", "munderover", "mspace", "mstyle", "mpadded", "mphantom", "menclose", "mtable", "mtr", "mtd", "semantics"}
TAGS = MATHML | {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt", "em",
                 "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "q", "s", "samp",
                 "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul"}
ATTRIBUTES = {"*": {"class", "id", "title", "lang"}, "a": {"href"}, "img": {"src", "alt", "width", "height"},
              "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan", "align"}, "ol": {"start"}}
MATHML_ATTRIBUTES = {"display", "xmlns", "mathvariant", "fence", "form", "stretchy", "separator", "lspace", "rspace", "width",
                     "height", "depth", "accent", "accentunder", "displaystyle", "scriptlevel", "columnalign", "rowalign",
                     "columnspacing", "rowspacing", "linethickness", "notation", "minsize", "maxsize", "largeop",
                     "movablelimits", "symmetric"}
OUTPUT_TYPES = {"text/plain", "text/markdown", "text/html", "text/latex", "image/png", "image/jpeg", "image/gif"}  # no scripts


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    "The allow-list of attributes; images only from the site itself or inline data (no request to the network)."
    if name == "src": return tag == "img" and (value.startswith("data:image/") or not re.match(r"[\w+.-]*:|/", value))
    if value.startswith("data:"): return False
    return name in ATTRIBUTES["*"] | ATTRIBUTES.get(tag, set()) or (tag in MATHML and name in MATHML_ATTRIBUTES)


SANITIZER = bleach.Cleaner(tags=TAGS, attributes=_allowed_attribute, protocols={"http", "https", "mailto", "data"},
                           strip=False, strip_comments=True)


def sanitized(fragment: str) -> str:
    "HTML reduced to the allow-list: other tags are shown as text, other attributes and URL schemes are dropped."
    return SANITIZER.clean(fragment)


def without_scripts(cell):
    "A code cell's outputs in the types a page shows without running anything (JavaScript and the like dropped)."
    for output in cell.get("outputs", []):
        if "data" in output: output["data"] = {k: v for k, v in output["data"].items() if k in OUTPUT_TYPES}
    return cell


# ---------------------------------------------------------------- pages
class MathMLRenderer(IPythonRenderer):
    "nbconvert's Markdown renderer, with math written as MathML instead of left for MathJax."
    def block_math(self, body): return to_mathml(body, display="block")
    def inline_math(self, body): return to_mathml(body)
    def latex_environment(self, name, body): return to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display="block")


class PageExporter(HTMLExporter):
    "The body of a page: nbconvert's basic template, no prompts, math as MathML."
    def __init__(self, **kw):
        super().__init__(template_name="basic", exclude_input_prompt=True, exclude_output_prompt=True, **kw)

    @pass_context
    def markdown2html(self, context, source):
        cell = context.get("cell", {})
        source = re.sub(r"\{target=\"_blank\"[^}]*\}", "", source)  # Quarto's link attributes in show_doc output
        renderer = MathMLRenderer(escape=False, attachments=cell.get("attachments", {}), anchor_link_text=self.anchor_link_text)
        return MarkdownWithMath(renderer=renderer).render(source)


def front_matter(nb) -> dict:
    "The title and description nbdev moved into the first raw cell; the cell is removed."
    if nb.cells and nb.cells[0].cell_type == "raw" and nb.cells[0].source.startswith("---"):
        return yaml.safe_load(nb.cells.pop(0).source.strip().strip("-")) or {}
    return {}


def _source_line(cell) -> int:
    "Where a show_doc cell's object is defined (its source link's line number)."
    text = "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in cell.get("outputs", []))
    m = re.search(r"#L(\d+)\)", text)
    return int(m[1]) if m else 0


def in_source_order(cells: list) -> list:
    "nbdev inserts the references of one cell's names last-first; put each run of them back in source order."
    out, run = [], []
    for cell in cells + [None]:
        if cell is not None and cell.cell_type == "code" and cell.source.rstrip().endswith(")") and "show_doc(" in cell.source:
            run.append(cell); continue
        out += sorted(run, key=_source_line); run = []
        if cell is not None: out.append(cell)
    return out


def quarto_directives_applied(cell):
    "What Quarto does with the `#|` lines nbdev leaves: `echo: false` hides the code (the show_doc cells), the lines themselves never show."
    if cell.cell_type == "code":
        if _directives(cell.source).get("echo") == "false": cell.metadata.setdefault("transient", {})["remove_source"] = True
        cell.source = _without_directives(cell.source)
    return cell


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - {project}</title><link rel="stylesheet" href="style.css"></head>
<body><nav class="sidebar"><a class="brand" href="index.html">{project}</a><ol>{nav}</ol></nav>
<main><h1 class="title">{title}</h1>{lead}{body}</main></body></html>
"""


def repository_file(rel: str):
    "The file ROOT/`rel` as a path inside the repository (no hidden part such as .git), or None where it is not one."
    src = (ROOT / html.unescape(rel)).resolve()
    if not src.is_file() or not src.is_relative_to(ROOT): return None
    inside = src.relative_to(ROOT)
    return None if any(part.startswith(".") for part in inside.parts) else inside


def copy_repository_files(page: str, out: Path) -> str:
    "Files the notebooks reference as ../PATH (the pretrained grid, say) are copied into the site and linked there; nothing from outside the repository."
    def copy(m):
        inside = repository_file(m[2])
        if inside is None: return f'{m[1]}=""'
        (out / inside).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / inside, out / inside)
        return f'{m[1]}="{html.escape(inside.as_posix())}"'
    return re.sub(r'(src|href)="\.\./([^"#]+)"', copy, page)


def doc_host() -> str:
    "Where nbdev's links to the documentation of a name point (settings.ini's doc_host and doc_baseurl)."
    from nbdev.config import get_config
    cfg = get_config()
    return cfg.doc_host.rstrip("/") + "/" + cfg.doc_baseurl.strip("/") + "/"


def relative_links(page: str, files: dict, host: str) -> str:
    "Links between the site's pages made relative: to notebooks, and nbdev's links to a name's documentation; anchors in lower case, as headings' ids are."
    page = page.replace(f'href="{host}', 'href="')
    page = re.sub(r'href="([\w.-]+)\.ipynb', lambda m: f'href="{files.get(m[1], m[1] + ".html")}', page)
    page = re.sub(r'href="([^":]*)#([^"]*)"', lambda m: f'href="{m[1]}#{m[2].lower()}"', page)  # local links only: no scheme
    return re.sub(r'(<h\d id=")([^"]+)"', lambda m: m[1] + m[2].lower() + '"', page)


def link_methods_to_their_class(out: Path):
    "nbdev links `Class.method` to an anchor of its own; a method has no reference of its own here, so its class's is used."
    ids = {p.name: set(re.findall(r' id="([^"]+)"', p.read_text(encoding="utf-8"))) for p in out.glob("*.html")}
    def fix(m):
        file, anchor = m[1], m[2]
        known = ids.get(file, set())
        return m[0] if anchor in known or anchor.split(".")[0] not in known else f'href="{file}#{anchor.split(".")[0]}"'
    for p in out.glob("*.html"):
        p.write_text(re.sub(r'href="([\w-]+\.html)#([^"]+)"', fix, p.read_text(encoding="utf-8")), encoding="utf-8")


def page_file(path: Path, meta: dict) -> str:
    "The front matter's output-file: a plain page name, never a path or markup."
    file = str(meta.get("output-file", path.stem + ".html"))
    if not re.fullmatch(r"\w[\w-]*\.html", file):
        sys.exit(f"{path.name}: output-file {file!r} is not a plain page name such as name.html: fix the notebook's front matter")
    return file


def build_site(proc: Path, out: Path) -> list:
    "Render every processed notebook into `out` as its front matter's output-file; returns the page files in lesson order."
    notebooks = sorted(proc.glob("*.ipynb"), key=lambda p: (p.stem != "index", p.stem))
    pages = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        meta = front_matter(nb)
        nb.cells = [without_scripts(quarto_directives_applied(c)) for c in in_source_order(nb.cells)]
        pages.append((path.stem, page_file(path, meta), str(meta.get("title", path.stem)), str(meta.get("description", "")), nb))
    files, host = {stem: file for stem, file, *_ in pages}, doc_host()
    out.mkdir(parents=True, exist_ok=True)
    exporter = PageExporter()
    for stem, file, title, description, nb in pages:
        nav = "".join(f'<li{" class=current" if f == file else ""}><a href="{f}">{html.escape(t)}</a></li>' for _, f, t, _, _ in pages)
        body, _ = exporter.from_notebook_node(nb)
        lead = f'<p class="lead">{sanitized(exporter.markdown2html({}, description)[3:-5])}</p>' if description else ""
        body = sanitized(body)
        page = PAGE.format(title=html.escape(title), project=PROJECT, nav=nav, lead=lead, body=body)
        (out / file).write_text(relative_links(copy_repository_files(page, out), files, host), encoding="utf-8")
    link_methods_to_their_class(out)
    (out / "style.css").write_text(STYLE + HtmlFormatter(style="default").get_style_defs(".highlight"), encoding="utf-8")
    return [file for _, file, *_ in pages]


STYLE = """
body { margin: 0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2125; }
.sidebar { position: fixed; top: 0; bottom: 0; left: 0; width: 15rem; overflow-y: auto; padding: 1.2rem 1rem;
           background: #f5f6f7; border-right: 1px solid #dde1e4; box-sizing: border-box; }
.sidebar .brand { display: block; font-weight: 700; font-size: 1.1rem; margin-bottom: .8rem; color: #1d2125; text-decoration: none; }
.sidebar ol { list-style: none; padding: 0; margin: 0; }
.sidebar li a { display: block; padding: .25rem .5rem; border-radius: 4px; color: #33404d; text-decoration: none; font-size: .92rem; }
.sidebar li.current a, .sidebar li a:hover { background: #e1e7ee; color: #0b4f8a; }
main { margin-left: 15rem; padding: 1.5rem 2.5rem 4rem; max-width: 60rem; }
h1.title { margin-bottom: .2rem; } p.lead { font-size: 1.1rem; color: #4b5661; margin-top: 0; }
a { color: #0b5fa5; } code { background: #f2f4f6; padding: 0 .2em; border-radius: 3px; font-size: .9em; }
pre { background: #f7f8f9; padding: .7rem .9rem; overflow-x: auto; border-radius: 4px; font-size: .85rem; line-height: 1.4; }
.jp-InputArea pre, .highlight pre { border-left: 3px solid #c8d3de; }
.jp-OutputArea pre { background: #fff; border-left: 3px solid #eee; }
.jp-Cell { margin: .8rem 0; } img { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; } th, td { border: 1px solid #dde1e4; padding: .3rem .6rem; vertical-align: top; }
th { background: #f5f6f7; } math[display="block"] { margin: .6rem 0; overflow-x: auto; }
.anchor-link { visibility: hidden; margin-left: .3rem; text-decoration: none; } h2:hover .anchor-link, h3:hover .anchor-link { visibility: visible; }
@media (max-width: 50rem) { .sidebar { position: static; width: auto; } main { margin-left: 0; padding: 1rem; } }
"""


# ---------------------------------------------------------------- the output folder: only our own files are deleted
MARKER = ".landscape-diffusion-site.json"  # in --out: the files a build wrote there, the only ones the next build deletes


def files_below(folder: Path) -> set:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def clear_earlier_build(out: Path):
    "Delete the files an earlier build wrote into `out` (its MARKER lists them); refuse a non-empty folder without one."
    marker = out / MARKER
    if not marker.is_file():
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            sys.exit(f"{out} is not an empty folder, and no build of this site is in it: give a new or empty --out folder (nothing was deleted)")
        return
    home = Path(os.path.realpath(out))
    for rel in map(Path, json.loads(marker.read_text(encoding="utf-8"))):
        f = out / rel
        if rel.is_absolute() or ".." in rel.parts or not Path(os.path.realpath(f.parent)).is_relative_to(home): continue
        if f.is_file() or f.is_symlink(): f.unlink()
        for folder in f.parents[:len(rel.parts) - 1]:  # the folders the build made, once empty
            if folder.is_dir() and not any(folder.iterdir()): folder.rmdir()
    marker.unlink()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "_docs"), help="where the site goes (default: _docs/)")
    p.add_argument("--check-readme", action="store_true", help="only check that README.md is what nbs/index.ipynb renders")
    p.add_argument("--site-only", action="store_true", help="build the site, leave README.md as it is")
    args = p.parse_args(argv)
    readme = readme_markdown()
    if args.check_readme:
        if (ROOT / "README.md").read_text(encoding="utf-8") == readme: return print("README.md is what nbs/index.ipynb renders")
        sys.exit("README.md differs from what nbs/index.ipynb renders: edit the notebook, then run python tools/build_docs.py")
    out = Path(args.out)
    clear_earlier_build(out)
    if not args.site_only: (ROOT / "README.md").write_text(readme, encoding="utf-8")
    os.environ["PYTHONWARNINGS"] = "ignore:Found cells containing imports"  # the install cells, in nbdev's worker processes
    from nbdev.serve import proc_nbs  # nbdev's own notebook processing, without Quarto
    proc = proc_nbs(str(NBS), force=True)
    others = files_below(out) if out.is_dir() else set()
    pages = build_site(proc, out)
    (out / MARKER).write_text(json.dumps(sorted(files_below(out) - others), indent=0), encoding="utf-8")
    print(f"wrote {'' if args.site_only else 'README.md and '}{len(pages)} pages to {out}: open {out / 'index.html'}")


if __name__ == "__main__":
    main()
