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
    outputs = notebook.cells[2]["outputs"]
    table = next(out["data"]["text/plain"] for out in outputs if "data" in out)
    assert "Broke in a day." in table and "labeled" in table
    progress = "".join(out.get("text", "") for out in outputs if out.get("name") == "stderr")
    assert "labeling" in progress and "record" in progress  # the Labeler's tqdm bar
