"""House rules that keep the tree navigable (the import contracts are in test_imports.py)."""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
import typing
from pathlib import Path
from types import ModuleType

import pytest

from llmlabel.backends.base import Backend
from llmlabel.backends.batch import BatchBackend, BatchEngine
from llmlabel.core.request import Completion, LabelRequest
from llmlabel.core.settings import BackendSpec

BACKENDS = Path(__file__).resolve().parent.parent / "llmlabel" / "backends"
HELPERS = ("llama_server", "tokens")
"""Modules of ``backends/`` that serve a backend and are none themselves."""
MODULES = sorted(
    f.stem for f in BACKENDS.glob("*.py") if f.stem not in ("__init__", "base", *HELPERS)
)
ENGINE_OF = {"transformers": "transformers_hf"}
"""The module serving a task file's ``backend.type``, where it is not named like the type."""


def _methods(protocol: type) -> dict[str, typing.Callable[..., typing.Any]]:
    return {
        name: member
        for name, member in vars(protocol).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }


def _self_attributes(cls: type) -> set[str]:
    """The ``self.x = ...`` of a class's methods."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(cls)))):
        targets = node.targets if isinstance(node, ast.Assign) else []
        targets += [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
            ):
                names.add(target.attr)
    return names


def _lacks(cls: type, protocol: type) -> list[str]:
    """How ``cls`` falls short of ``protocol``: a missing attribute, a missing method, or a
    method whose parameters, types or async-ness differ from the protocol's."""
    problems = []
    for name in protocol.__annotations__:
        if not hasattr(cls, name) and name not in _self_attributes(cls):
            problems.append(f"no attribute {name}")
    for name, wanted in _methods(protocol).items():
        method = getattr(cls, name, None)
        if not inspect.isfunction(method):
            problems.append(f"no method {name}")
            continue
        if inspect.iscoroutinefunction(method) != inspect.iscoroutinefunction(wanted):
            problems.append(f"{name} is {'not ' * inspect.iscoroutinefunction(wanted)}async")
        shape = [(p.name, p.kind) for p in inspect.signature(method).parameters.values()]
        if shape != [(p.name, p.kind) for p in inspect.signature(wanted).parameters.values()]:
            problems.append(f"{name}{inspect.signature(method)} != {inspect.signature(wanted)}")
        elif typing.get_type_hints(method) != typing.get_type_hints(wanted):
            problems.append(f"{name} is typed {typing.get_type_hints(method)}")
    return problems


def _classes(module: ModuleType, method: str) -> list[type]:
    """The classes ``module`` defines that have ``method``."""
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and hasattr(cls, method)
    ]


@pytest.mark.parametrize("name", MODULES)
def test_every_backend_is_one_file_implementing_the_protocol(name: str) -> None:
    """Each file of ``backends/`` defines a ``Backend`` (``complete``/``aclose`` as the
    protocol declares them, ``name``/``model_id``/``max_n``), or a ``BatchEngine`` with a
    factory that puts it behind ``BatchBackend``; every class with ``complete`` or
    ``generate`` implements its protocol in full."""
    module = importlib.import_module(f"llmlabel.backends.{name}")
    backends, engines = _classes(module, "complete"), _classes(module, "generate")
    engines = [cls for cls in engines if cls is not BatchEngine]
    assert backends or engines, f"{name}.py defines no backend"
    for cls in backends:
        assert _lacks(cls, Backend) == [], cls.__name__
    for cls in engines:
        assert _lacks(cls, BatchEngine) == [], cls.__name__
    if engines:
        factories = [
            f
            for f in vars(module).values()
            if inspect.isfunction(f)
            and f.__module__ == module.__name__
            and typing.get_type_hints(f).get("return") is BatchBackend
        ]
        assert factories, f"{name}.py has no function returning a BatchBackend"


def test_the_batch_adapter_implements_the_protocol() -> None:
    assert _lacks(BatchBackend, Backend) == []


def test_the_check_catches_a_backend_that_differs_from_the_protocol() -> None:
    class Sync:
        name = "sync"
        model_id = "m"
        max_n = 1

        def complete(self, request: LabelRequest) -> Completion: ...

        async def aclose(self) -> None: ...

    class Renamed(Sync):
        async def complete(self, req: LabelRequest) -> Completion: ...  # type: ignore[override]

    class Untyped(Sync):
        async def complete(self, request: str) -> Completion: ...  # type: ignore[override]

    assert _lacks(Sync, Backend) == ["complete is not async"]
    assert [p.split("(")[0] for p in _lacks(Renamed, Backend)] == ["complete"]
    assert [p.split(" {")[0] for p in _lacks(Untyped, Backend)] == ["complete is typed"]

    class Empty:
        pass

    assert _lacks(Empty, Backend) == [
        "no attribute name",
        "no attribute model_id",
        "no attribute max_n",
        "no method complete",
        "no method aclose",
    ]


@pytest.mark.parametrize("kind", typing.get_args(BackendSpec.model_fields["type"].annotation))
def test_every_backend_type_is_served_by_its_own_module(kind: str) -> None:
    """Each ``backend.type`` a task file may name is imported by ``make_backend`` from a
    module of its own."""
    module = ENGINE_OF.get(kind, kind)
    assert module in MODULES, kind
    factory = ast.parse((BACKENDS / "__init__.py").read_text())
    imported = {n.module for n in ast.walk(factory) if isinstance(n, ast.ImportFrom)}
    assert f"llmlabel.backends.{module}" in imported, kind
