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


def _members(cls: ast.ClassDef) -> set[str]:
    """Names a class defines: its body's assignments, annotations, methods and properties,
    and the ``self.x = ...`` of its methods."""
    names: set[str] = set()
    for node in ast.walk(cls):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node in cls.body:
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                elif (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                ):
                    names.add(target.attr)
    return names


def test_every_backend_is_one_file_implementing_the_protocol() -> None:
    """Each backend class (a class with ``complete``) has the protocol's members, with
    ``complete(self, request)`` and ``aclose()`` async; each backend type the task file offers
    is served by a module of its own."""
    found: dict[str, str] = {}
    for file in sorted((PACKAGE / "backends").glob("*.py")):
        for cls in ast.walk(ast.parse(file.read_text())):
            if not isinstance(cls, ast.ClassDef) or cls.name == "Backend":
                continue
            methods = {f.name: f for f in cls.body if isinstance(f, ast.AsyncFunctionDef)}
            if "complete" not in methods:
                continue
            found[cls.name] = file.stem
            missing = {"name", "model_id", "max_n", "aclose"} - _members(cls)
            assert not missing, f"{file.name}:{cls.name} lacks {missing}"
            args = [a.arg for a in methods["complete"].args.args]
            assert args == ["self", "request"], f"{cls.name}.complete{args}"
    assert set(found) == {"EmbeddedBackend", "OpenAICompatBackend", "BatchBackend", "EndpointPool"}
    engines = {"transformers": "transformers_hf", "vllm_offline": "vllm_offline"}
    factory = (PACKAGE / "backends" / "__init__.py").read_text()
    for kind in ("openai_compat", "transformers", "vllm_offline", "embedded"):
        module = engines.get(kind, kind)
        assert f"llmlabel.backends.{module} import" in factory, kind


def test_only_the_cli_and_the_package_root_import_the_api() -> None:
    """Commands and runners sit below ``api`` (function-level imports included): no cycles."""
    allowed = {"api.py", "cli.py", "__init__.py", "__main__.py"}
    offenders = []
    for file in PACKAGE.rglob("*.py"):
        if file.name in allowed and file.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "llmlabel" and node.names:
                names = [f"llmlabel.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            offenders += [f"{file.name}: {n}" for n in names if n == "llmlabel.api"]
    assert offenders == []
