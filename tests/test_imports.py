"""Import contracts over llmlabel's import graph (grimp): no cycles, and each layer imports only
what it is allowed to.

The graph counts every import statement, those inside functions too (a function-level import
does not break a cycle, it only hides it); imports under ``if TYPE_CHECKING:`` never run and
are left out.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGE = "llmlabel"

CORE_STDLIB = {
    "__future__", "abc", "bisect", "collections", "copy", "dataclasses", "datetime", "decimal",
    "difflib", "enum", "fractions", "functools", "hashlib", "heapq", "itertools", "json", "math",
    "numbers", "operator", "random", "re", "statistics", "string", "sys", "textwrap", "types",
    "typing", "unicodedata",
}  # fmt: skip
"""Pure standard-library modules: no files, processes, sockets or clocks in ``core``."""

CORE_THIRD_PARTY = {"pydantic", "jinja2", "numpy", "scipy", "sklearn"}
"""Values and numerics: the fits and tests of calibrate, eval, compare and audit are scipy's and
scikit-learn's, imported inside the functions that need them (numpy for their arrays)."""

MAY_IMPORT = {
    "llmlabel.core": {"llmlabel.errors"},
    "llmlabel.select": {"llmlabel.core", "llmlabel.errors", "llmlabel.models"},
    "llmlabel.backends": {"llmlabel.core", "llmlabel.errors", "llmlabel.models"},
    "llmlabel.io": {
        "llmlabel.core", "llmlabel.select", "llmlabel.errors", "llmlabel.models",
        "llmlabel._version",
    },
    "llmlabel.task": {
        "llmlabel.core", "llmlabel.io", "llmlabel.select", "llmlabel.errors", "llmlabel.models",
    },
    "llmlabel.runs": {
        "llmlabel.core", "llmlabel.io", "llmlabel.select", "llmlabel.backends", "llmlabel.task",
        "llmlabel.errors", "llmlabel.models", "llmlabel._version",
    },
    "llmlabel.commands": {
        "llmlabel.runs", "llmlabel.core", "llmlabel.io", "llmlabel.select", "llmlabel.backends",
        "llmlabel.task", "llmlabel.errors", "llmlabel.models", "llmlabel._version",
    },
    "llmlabel.errors": set(),
    "llmlabel.models": {"llmlabel.errors", "llmlabel._download"},
    "llmlabel._download": {"llmlabel.errors"},
    "llmlabel._version": set(),
}  # fmt: skip
"""The llmlabel modules each layer may import besides its own: pure logic, adapters and I/O sit
below the prepared task, the task below the runners (``runs``), the runners below the commands
(``commands``), and all of them below the API and CLI, so none imports a layer above it
(``errors`` is the one exception tree every layer raises from)."""


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        PACKAGE,
        include_external_packages=True,
        exclude_type_checking_imports=True,
        cache_dir=None,
    )


def _internal(graph: grimp.ImportGraph) -> set[str]:
    return {m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + ".")}


def _within(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def _imports(graph: grimp.ImportGraph, layer: str) -> dict[str, set[str]]:
    """Each module of ``layer`` (a package or a module) and what it imports directly."""
    modules = {layer} | graph.find_descendants(layer)
    return {m: graph.find_modules_directly_imported_by(m) for m in modules}


def _where(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    lines = graph.get_import_details(importer=importer, imported=imported)
    at = ", ".join(f"line {d['line_number']}" for d in lines)
    return f"{importer} -> {imported} ({at})"


def cycles(graph: grimp.ImportGraph) -> list[str]:
    """Each import cycle as ``a -> b -> ... -> a``, once per set of modules."""
    internal, seen, found = _internal(graph), set(), []
    for importer in sorted(internal):
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & internal):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is None:
                continue
            loop = (importer, *back)
            if frozenset(loop) not in seen:
                seen.add(frozenset(loop))
                found.append(" -> ".join(loop))
    return found


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_cycle_check_finds_a_cycle(graph: grimp.ImportGraph) -> None:
    """The check above is no stub: one added import back up the layers is reported."""
    graph.add_import(importer="llmlabel.core.vote", imported="llmlabel.api")
    try:
        found = cycles(graph)
    finally:
        graph.remove_import(importer="llmlabel.core.vote", imported="llmlabel.api")
    assert any("llmlabel.core.vote" in c and "llmlabel.api" in c for c in found), found


def test_core_imports_only_pure_stdlib_pydantic_and_jinja(graph: grimp.ImportGraph) -> None:
    allowed = CORE_STDLIB | CORE_THIRD_PARTY
    offenders = sorted(
        _where(graph, module, imported)
        for module, imports in _imports(graph, "llmlabel.core").items()
        for imported in imports
        if not imported.startswith(PACKAGE) and imported.split(".")[0] not in allowed
    )
    assert not offenders, "core is pure logic (no I/O, no optional packages):\n" + "\n".join(
        offenders
    )


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_each_layer_imports_only_the_layers_below(graph: grimp.ImportGraph, layer: str) -> None:
    allowed = MAY_IMPORT[layer] | {layer}
    offenders = sorted(
        _where(graph, module, imported)
        for module, imports in _imports(graph, layer).items()
        for imported in imports & _internal(graph)
        if not any(_within(imported, a) for a in allowed)
    )
    assert not offenders, f"{layer} imports above its layer:\n" + "\n".join(offenders)


def test_every_package_and_module_has_a_layer(graph: grimp.ImportGraph) -> None:
    """A new top-level module or package gets a contract above (or is one of the entry points
    that sit on top of every layer)."""
    top = {m.split(".")[1] for m in _internal(graph) if m != PACKAGE}
    entry_points = {"api", "cli", "__main__"}
    unplaced = sorted(
        f"{PACKAGE}.{t}" for t in top - entry_points if f"{PACKAGE}.{t}" not in MAY_IMPORT
    )
    assert not unplaced, "no layer contract for: " + ", ".join(unplaced)


def test_the_layer_check_finds_an_import_up(graph: grimp.ImportGraph) -> None:
    """A runner importing a command is reported (the contracts are no stub either)."""
    graph.add_import(importer="llmlabel.runs.local", imported="llmlabel.commands.export")
    try:
        with pytest.raises(AssertionError, match=r"llmlabel\.runs\.local -> llmlabel\.commands"):
            test_each_layer_imports_only_the_layers_below(graph, "llmlabel.runs")
    finally:
        graph.remove_import(importer="llmlabel.runs.local", imported="llmlabel.commands.export")


def _family(module: str) -> str:
    """A command's modules share its name before ``_``: ``review`` with ``review_rows`` and
    ``review_corrections``, ``distill`` with ``distill_student`` and ``distill_report``."""
    return module.rsplit(".", 1)[-1].split("_")[0]


def command_imports(graph: grimp.ImportGraph) -> list[str]:
    """Imports of one command module by another outside its family."""
    found = []
    for module, imports in _imports(graph, "llmlabel.commands").items():
        for imported in sorted(imports & graph.find_descendants("llmlabel.commands")):
            if _family(imported) != _family(module):
                found.append(_where(graph, module, imported))
    return sorted(found)


def test_commands_do_not_import_each_other(graph: grimp.ImportGraph) -> None:
    """What two commands share (a predictions or gold reader) lives in ``io``, below both."""
    found = command_imports(graph)
    assert not found, "a command imports another command:\n" + "\n".join(found)


def test_the_command_check_finds_a_command_import(graph: grimp.ImportGraph) -> None:
    """No stub: the import issue 18 removed (distill reading predictions through export)."""
    graph.add_import(importer="llmlabel.commands.distill", imported="llmlabel.commands.export")
    try:
        found = command_imports(graph)
    finally:
        graph.remove_import(
            importer="llmlabel.commands.distill", imported="llmlabel.commands.export"
        )
    assert [f for f in found if f.startswith("llmlabel.commands.distill -> ")], found


def test_only_the_cli_and_the_package_root_import_the_api(graph: grimp.ImportGraph) -> None:
    """Commands and runners sit below ``api``: a shared helper belongs below both."""
    importers = graph.find_modules_that_directly_import("llmlabel.api")
    outside_cli = {
        m for m in importers if m != "llmlabel.cli" and not m.startswith("llmlabel.cli.")
    }
    assert outside_cli <= {"llmlabel", "llmlabel.__main__"}
