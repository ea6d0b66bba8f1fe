"""MkDocs hooks: the measured results (``eval/results/*.md``) and the example notebook become
pages of the built site, so that the manual's links into them work there as they do in a
checkout and on a code host.

The manual links them as ``../eval/results/<name>.md`` (a path that resolves from ``docs/``);
here those links point at the copies under ``results/`` (and ``examples/``) in the site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = {"../eval/results/": "results/", "../examples/": "examples/"}


def on_files(files: Files, config: Any) -> Files:
    extra = [(f"results/{p.name}", p) for p in sorted((ROOT / "eval" / "results").glob("*.md"))]
    extra.append(("examples/notebook.ipynb", ROOT / "examples" / "notebook.ipynb"))
    for uri, path in extra:
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    for outside, inside in OUTSIDE.items():
        markdown = markdown.replace(f"]({outside}", f"]({inside}")
    return markdown
