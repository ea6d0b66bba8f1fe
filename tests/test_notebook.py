"""The example notebook, run top to bottom in a real Jupyter kernel (nbclient + ipykernel):
the Labeler inside a kernel's running event loop, with top-level ``await``."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_notebook_runs_in_a_jupyter_kernel(tmp_path: Path, smollm2_path: Path) -> None:
    notebook = nbformat.read(ROOT / "examples/notebook.ipynb", as_version=4)
    where = {"metadata": {"path": str(tmp_path)}}
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources=where)
    client.execute()  # raises CellExecutionError, with the cell's traceback, on any failure
    last = notebook.cells[-1]["outputs"]
    assert any("labeled 4 records" in out.get("text", "") for out in last)
    table = notebook.cells[2]["outputs"][0]["data"]["text/plain"]
    assert "Broke in a day." in table and "labeled" in table
