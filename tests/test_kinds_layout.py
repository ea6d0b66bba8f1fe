"""Each task kind in one place (issue 18): what differs between kinds is asked of the kind
(``llmlabel.core.kinds``, one module per kind), never decided by comparing a kind's name.

An AST check over the package: a comparison of ``.kind`` / ``.name`` / a ``kind`` variable with
a kind-name string literal (``spec.kind == "ner"``, ``kind in ("classification", "relation")``),
and a spelled-out list of kind names (``KINDS = ("classification", "multi_label")``, the shape
``kind not in KINDS`` checked against), are allowed only inside ``llmlabel/core/kinds/``; a
``Literal[...]`` of kind names (a type) is not a check.
"""

from __future__ import annotations

import ast
from pathlib import Path

from llmlabel.core.kinds import KINDS

PACKAGE = Path(__file__).resolve().parent.parent / "llmlabel"
KINDS_DIR = PACKAGE / "core" / "kinds"

ALLOWED: dict[str, int] = {}
"""Files (under llmlabel/) that may still hold kind checks, and on how many lines: none. (Issue
18 moved the last one, ``core/spec.py``'s bootstrap check, onto ``Kind.scores_labels``.)"""


def _is_kind_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in KINDS
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_kind_literal(e) for e in node.elts)
    return False


def _is_kind_name(node: ast.AST) -> bool:
    """``x.kind``, ``x.name``, or a variable whose name says it holds a kind."""
    if isinstance(node, ast.Attribute):
        return node.attr in ("kind", "name")
    return isinstance(node, ast.Name) and "kind" in node.id.lower()


def _is_kind_list(node: ast.AST) -> bool:
    """A tuple, list or set whose strings are all kind names (at least one)."""
    if not isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return False
    strings = [e for e in node.elts if isinstance(e, ast.Constant)]
    return bool(strings) and all(_is_kind_literal(e) for e in strings)


def kind_checks(source: str) -> list[int]:
    """Line numbers of the comparisons of a kind's name with a kind-name literal, and of the
    lists of kind names outside ``Literal[...]``."""
    tree = ast.parse(source)
    types = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Literal"
        for inner in ast.walk(node.slice)
    }
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(map(_is_kind_literal, operands)) and any(map(_is_kind_name, operands)):
                found.add(node.lineno)
        elif _is_kind_list(node) and id(node) not in types:
            found.add(node.lineno)
    return sorted(found)


def test_kind_checks_live_only_in_the_kinds() -> None:
    found: dict[str, list[int]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if KINDS_DIR in path.parents:
            continue
        lines = kind_checks(path.read_text(encoding="utf-8"))
        if lines:
            found[path.relative_to(PACKAGE).as_posix()] = lines
    unexpected = {name: lines for name, lines in found.items() if len(lines) > ALLOWED.get(name, 0)}
    assert not unexpected, (
        "kind-name checks outside llmlabel/core/kinds/ (ask the Kind instead: give it an "
        "attribute or method in its module): "
        + ", ".join(f"llmlabel/{n}:{','.join(map(str, ls))}" for n, ls in unexpected.items())
    )


def test_the_allowlist_is_not_stale() -> None:
    """An allowed file that lost its checks leaves the list (so it cannot regrow them)."""
    for name, count in ALLOWED.items():
        assert len(kind_checks((PACKAGE / name).read_text(encoding="utf-8"))) == count, name


def test_the_check_finds_kind_checks() -> None:
    """No stub: the shapes the commands used before issue 18 are found, other comparisons not."""
    source = """
if spec.kind == "ner": pass
if prepared.spec.kind not in ("classification", "relation"): pass
spans = kind == "ner"
if facts.kind != "multi_label": pass
if kind == "exceed_context_size_error": pass
if self.embedder.name == "minilm": pass
if calibration.file.kind != spec.kind: pass
KINDS = ("classification", "multi_label")
EXPORT_KINDS = (*CLASS_KINDS, "ner")
for field in ("label", "relation"): pass
TaskKind = Literal["classification", "ner"]
"""
    assert kind_checks(source) == [2, 3, 4, 5, 9, 10]


def test_every_kind_has_its_module() -> None:
    """Adding a kind is adding a module named like it (spacy-llm's tasks/<name>/ layout)."""
    modules = {p.stem for p in KINDS_DIR.glob("*.py")} - {"__init__", "base"}
    assert modules == set(KINDS)
    for name, kind in KINDS.items():
        assert type(kind).__module__ == "llmlabel.core.kinds.base"
        module = __import__(f"llmlabel.core.kinds.{name}", fromlist=["_"])
        assert kind in vars(module).values(), f"KINDS[{name!r}] is not defined in its module"
