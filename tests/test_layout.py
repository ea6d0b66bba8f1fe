"""House rules that keep the tree navigable."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "llmlabel"
FORBIDDEN = ("llmlabel.backends", "llmlabel.io", "llmlabel.cli", "llmlabel.runner", "llmlabel.api")


def test_core_imports_nothing_from_backends_io_or_cli() -> None:
    offenders = []
    for file in (PACKAGE / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if node.level == 0 else [f"llmlabel.{node.module}"]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            offenders += [f"{file.name}: {n}" for n in names if n.startswith(FORBIDDEN)]
    assert offenders == []


def test_every_backend_is_one_file_implementing_the_protocol() -> None:
    files = sorted(p.stem for p in (PACKAGE / "backends").glob("*.py"))
    assert {"base", "embedded", "openai_compat"} <= set(files)
