"The library's shape: one job per module, imports flowing one way, the command line on top, notebooks in small cells."
import ast
import json
import re
from pathlib import Path

import landscape_diffusion

LIB = Path(landscape_diffusion.__file__).parent
NBS = LIB.parent / "nbs"
# each module and the modules it may import (design.md's arrows); any may import patch; nothing may import cli
ALLOWED = {
    "patch": set(), "unet": set(), "diffusion": set(), "synthetic": set(), "files": set(), "images": set(),
    "data": {"files", "images", "synthetic"}, "config": {"data", "diffusion"},  # config asks data where Kaggle keeps its output
    "device": set(), "checkpoint": {"config", "data", "device", "diffusion", "files", "images", "unet"},
    "runs": {"checkpoint", "files"}, "track": {"config"},
    "train": {"checkpoint", "config", "data", "device", "diffusion", "files", "runs", "track", "unet"},
    "evaluate": {"checkpoint", "data", "diffusion", "files", "images"}, "play": {"checkpoint", "data", "diffusion", "files", "images"},
    "cli": {"checkpoint", "config", "data", "device", "evaluate", "files", "play", "train"},
}


def library_imports(module: Path) -> set:
    "The library modules a module imports, at any depth of its code."
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            name = node.module
            if node.level == 1: found.add(name.split(".")[0])
            elif name.startswith("landscape_diffusion."): found.add(name.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("landscape_diffusion.")}
    return found


def modules():
    return sorted(p for p in LIB.glob("*.py") if not p.name.startswith("_"))


def test_every_module_has_a_place_in_the_layering():
    assert {p.stem for p in modules()} == set(ALLOWED)


def test_imports_flow_one_way_and_nothing_imports_the_command_line():
    graph = {p.stem: library_imports(p) for p in modules()}
    for name, imported in graph.items():
        assert imported - {"patch"} <= ALLOWED[name], f"{name} imports {sorted(imported - ALLOWED[name])}, which sit above it"
    assert not [n for n, imported in graph.items() if "cli" in imported]


def test_modules_stay_small():
    sizes = {p.name: len(p.read_text().splitlines()) for p in modules()}
    assert max(sizes.values()) <= 440, sizes  # a module past this is doing two jobs: split it


def notebooks():
    return sorted(NBS.glob("[0-9]*.ipynb")) + [NBS / "index.ipynb"]


def code_cells(nb: Path):
    return [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]


def test_exported_cells_stay_small():
    "Issue 27: a lesson builds a class up in cells of at most 40 lines (`@patch`), each followed by its check."
    big = [f"{nb.name} cell {c.get('id')}: {len(''.join(c['source']).splitlines())} lines" for nb in notebooks()
           for c in code_cells(nb) if re.match(r"#\|\s*export", "".join(c["source"]))
           and len("".join(c["source"]).splitlines()) > 40]
    assert not big, big


MACHINE_PATHS = re.compile(r"/home/|/Users/|/root/|site-packages|dist-packages|/content/|/kaggle/|/work/|/tmp/|"
                           r"/var/folders/|[A-Z]:\\Users|" + re.escape(str(LIB.parent)))


def output_text(output: dict) -> str:
    parts = [output.get("text", ""), *output.get("traceback", [])]
    parts += [v for k, v in output.get("data", {}).items() if k.startswith("text/") or k.endswith("json")]
    return "".join("".join(p) if isinstance(p, list) else str(p) for p in parts)


def test_stored_outputs_name_no_folder_of_the_machine_that_ran_them():
    "Issue 27: an output a reader sees shows the run's own relative paths, not a home, temp or checkout folder."
    found = [f"{nb.name} cell {c.get('id')}: {m.group(0)!r}" for nb in notebooks() for c in code_cells(nb)
             for o in c.get("outputs", []) for m in [MACHINE_PATHS.search(output_text(o))] if m]
    assert not found, found


def test_stored_output_check_catches_machine_paths():
    for path in ["/home/ana/runs", "/usr/lib/python3/site-packages/x.py", "/content/drive/x", "/tmp/tmpab12/ck.pt",
                 str(LIB.parent / "nbs")]:
        assert MACHINE_PATHS.search(output_text({"text": [f"saved to {path}"]})), path
    assert not MACHINE_PATHS.search(output_text({"text": ["saved to runs/demo/grid.png"]}))


def test_library_lines_are_short():
    "Issue 27: at most 120 characters, so a module reads without scrolling sideways (nbdev's _modidx excepted)."
    long = [f"{p.name}:{i}" for p in modules() for i, line in enumerate(p.read_text().splitlines(), 1)
            if len(line) > 120 and i not in nbdev_all_lines(p)]
    assert not long, long


def nbdev_all_lines(module: Path) -> set:
    "The lines of the `__all__` that nbdev writes (and wraps as it likes)."
    return {i for node in ast.parse(module.read_text()).body if isinstance(node, ast.Assign)
            and any(getattr(t, "id", None) == "__all__" for t in node.targets)
            for i in range(node.lineno, node.end_lineno + 1)}


def test_test_helpers_are_not_public_api():
    from landscape_diffusion import diffusion, evaluate
    assert not hasattr(diffusion, "gaussian_eps_model") and not hasattr(evaluate, "PixelStatsFeatures")


def test_tests_import_only_declared_packages():
    import configparser
    cfg = configparser.ConfigParser(delimiters=["="]); cfg.read(LIB.parent / "settings.ini")
    declared = {r.split(">")[0].split("<")[0].split("=")[0].replace("-", "_").lower()
                for r in (cfg["DEFAULT"]["requirements"] + " " + cfg["DEFAULT"]["dev_requirements"]).split()}
    aliases = {"pil": "pillow", "torch_fidelity": "torch_fidelity", "yaml": "pyyaml"}
    import sys
    for test in Path(__file__).parent.glob("test_*.py"):
        for node in ast.walk(ast.parse(test.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "landscape_diffusion": continue
                assert aliases.get(top.lower(), top.lower()) in declared, f"{test.name} imports {top}, which settings.ini does not declare"


def notebook_of(module: Path) -> str:
    "The notebook a generated module says it comes from."
    return re.search(r"File to edit: \.\./nbs/(\w+)\.ipynb", module.read_text()).group(1)


def test_notebooks_import_only_modules_of_earlier_notebooks():
    "Lesson order is dependency order (issue 27): a reader meets every name before a notebook uses it."
    home = {p.stem: notebook_of(p) for p in modules()}
    late = []
    for nb in sorted(NBS.glob("[0-9]*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] != "code" or "# Installs the library" in source: continue  # the install cell bootstraps
            for name in re.findall(r"^\s*(?:from|import)\s+landscape_diffusion\.(\w+)", source, re.M):
                if home[name] > nb.stem: late.append(f"{nb.stem} imports {name} from the later {home[name]}")
    assert not late, late
