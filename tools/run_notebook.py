"""Run a notebook top to bottom in a fresh Jupyter kernel, as Jupyter's "Run all" does, with parameters injected
after its cell tagged `parameters` (papermill's way), and save the executed notebook.

    python tools/run_notebook.py nbs/03_train.ipynb executed.ipynb 'preset, data = "tiny", "synthetic"' [--cwd nbs]
"""
import argparse
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def run_all(path, cwd, parameters:str=None, timeout:int=900):
    "The notebook at `path` executed in `cwd` (a fresh kernel), `parameters` injected after its parameters cell."
    nb = nbformat.read(str(path), as_version=4)
    if parameters:
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(parameters, metadata={"tags": ["injected-parameters"]}))
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebook"); p.add_argument("executed"); p.add_argument("parameters", nargs="?")
    p.add_argument("--cwd", default=None, help="where the kernel runs (default: the notebook's folder)")
    p.add_argument("--timeout", type=int, default=900, help="seconds a cell may take")
    a = p.parse_args()
    nb = run_all(a.notebook, a.cwd or Path(a.notebook).parent, a.parameters, a.timeout)
    nbformat.write(nb, a.executed)
    print(f"ran {a.notebook} top to bottom: {sum(c.cell_type == 'code' for c in nb.cells)} code cells, saved to {a.executed}")
