"""Read a task file and the files it points at: template, schema, few-shot examples, rules.

Reading only: ``llmlabel.core.spec`` validates, ``llmlabel.task`` puts the pieces together."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from llmlabel.core.kinds import KINDS
from llmlabel.errors import ConfigError, InputError, LLMLabelError, SchemaError, TemplateError
from llmlabel.io.readers import read_records
from llmlabel.io.textfile import read_text, read_yaml
from llmlabel.select import Example

if TYPE_CHECKING:  # read here, validated in core.spec
    from llmlabel.core.spec import TaskSpec

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """Built-in ``prompts``/``schemas``: inside the wheel, or beside the package in a checkout."""
    installed = PACKAGE_ROOT / "_data" / name
    return installed if installed.is_dir() else PACKAGE_ROOT.parent / name


def read_task_file(path: str | Path) -> tuple[Any, Path]:
    """The task file's YAML, as read (``llmlabel.core.spec.parse_task`` validates it), and its
    folder, where the paths it names are resolved."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            "task file not found", where=str(path), hint="see examples/sentiment/task.yaml"
        )
    data = read_yaml(path, "task file", hint="check indentation and quoting")
    return data, path.resolve().parent


def load_template(name: str, base_dir: Path) -> tuple[str, str]:
    """(name, source) of a template: a ``.jinja`` path relative to the task file, or a versioned
    name like ``classify.v1`` looked up in the task's folder, its ``prompts/`` and the built-in
    prompts. Never the current directory: a ``prompts/`` folder wherever llmlabel happens to
    run must not replace the prompt the task names."""
    if name.endswith(".jinja"):
        candidates = [base_dir / name]
    else:
        file = f"{name}.jinja"
        folders = [base_dir, base_dir / "prompts", data_dir("prompts")]
        candidates = [folder / file for folder in folders]
    for candidate in candidates:
        if candidate.is_file():
            source = read_text(candidate, "template", TemplateError)
            return Path(name).stem if name.endswith(".jinja") else name, source
    built_in = sorted(p.stem for p in data_dir("prompts").glob("*.jinja"))
    raise TemplateError(
        f"template '{name}' not found",
        hint=f"built-in templates: {', '.join(built_in)}; or give a path ending in .jinja "
        "(relative to the task file)",
    )


def load_schema(ref: str, base_dir: Path) -> type[BaseModel]:
    """A pydantic model from ``path/to/file.py:Class`` or ``package.module:Class``."""
    target, _, attr = ref.rpartition(":")
    if not target or not attr:
        raise SchemaError(
            f"schema reference '{ref}' is not 'file.py:Class'",
            hint="for example schema: schemas/sentiment.py:Sentiment",
        )
    module = _import_schema_module(target, base_dir, ref)
    model = getattr(module, attr, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise SchemaError(
            f"'{attr}' in {target} is not a pydantic model",
            hint="define `class X(BaseModel)` with a `label` field",
        )
    return model


def _import_schema_module(target: str, base_dir: Path, ref: str) -> Any:
    if not target.endswith(".py"):
        try:
            return importlib.import_module(target)
        except ImportError as exc:
            raise SchemaError(
                f"cannot import {target}: {exc}",
                where=ref,
                hint="a module must be importable here; a file is given as path.py:Class",
            ) from None
    candidates = [base_dir / target, data_dir("schemas").parent / target]  # never the cwd
    file = next((c for c in candidates if c.is_file()), None)
    if file is None:
        raise SchemaError(
            "schema file not found", where=target, hint="paths are relative to the task file"
        )
    return _import_file(file, "schema", SchemaError)


def _import_file(file: Path, what: str, error: type[LLMLabelError]) -> Any:
    """Run a user's Python file as a module (``what``: "schema" or "labeling function", for
    the messages); any failure is one ``error`` line naming the file."""
    name = f"llmlabel_user_{what.replace(' ', '_')}_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise error(f"cannot load {what} file", where=str(file), hint="is it a Python source file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # a user's file can fail in any way (even exit)
        del sys.modules[name]
        raise error(
            f"{what} file failed to import: {type(exc).__name__}: {exc}",
            where=str(file),
            hint=f"fix the file until `python {file.name}` runs without errors",
        ) from None
    return module


def load_function(ref: str, base_dir: Path) -> Callable[[Mapping[str, Any]], str | None]:
    """A labeling function from ``path/to/file.py:function`` (relative to the task file) or
    ``package.module:function``: it takes a record's fields and returns a label or None."""
    target, _, attr = ref.rpartition(":")
    if not target or not attr:
        raise ConfigError(
            f"labeling function '{ref}' is not 'file.py:function'",
            hint="for example python: rules.py:refund_rule",
        )
    if target.endswith(".py"):
        file = base_dir / target if (base_dir / target).is_file() else None  # never the cwd
        if file is None:
            raise ConfigError(
                "labeling function file not found",
                where=target,
                hint="paths are relative to the task file",
            )
        module = _import_file(file, "labeling function", ConfigError)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"cannot import {target}: {exc}", where=ref) from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise ConfigError(
            f"'{attr}' in {target} is not a function",
            where=ref,
            hint="define `def rule(record: dict) -> str | None`",
        )
    return function  # type: ignore[no-any-return]


def load_examples(spec: TaskSpec, base_dir: Path) -> list[Example]:
    """Inline items plus the examples file, each with its answer (``label`` or ``answer``)."""
    answer_field = KINDS[spec.kind].field  # "": the whole answer (extraction)
    label_field = spec.examples.label_field or answer_field or "answer"
    rows: list[tuple[str, dict[str, Any], str]] = [
        (str(item.get(spec.id_field, f"example-{i}")), item, f"examples.items[{i}]")
        for i, item in enumerate(spec.examples.items)
    ]
    if spec.examples.path:
        path = base_dir / spec.examples.path
        if not path.exists():
            path = Path(spec.examples.path)
        rows += [(r.id, r.data, r.where) for r in read_records(path, id_field=spec.id_field)]
    examples = []
    for example_id, data, where in rows:
        if "answer" in data and isinstance(data["answer"], dict):
            answer, given_in = data["answer"], "answer"
        elif label_field in data:
            value, given_in = data[label_field], label_field
            answer = {answer_field: value} if answer_field else value
        else:
            raise InputError(
                f"example has no '{label_field}'",
                where=where,
                hint="give each example its answer: a label, or a full `answer` object "
                "(or set examples.label_field)",
            )
        if not isinstance(answer, dict):
            raise InputError(
                f"example's '{label_field}' is not an object: {answer!r}",
                where=where,
                hint="the answer is a JSON object shaped like the task's schema",
            )
        label = _first_label(answer.get(answer_field))
        inputs = {k: v for k, v in data.items() if k != given_in}
        examples.append(
            Example(id=example_id, data=inputs, answer=answer, label=label, where=where)
        )
    return examples


def _first_label(value: Any) -> str:
    """The label an example is balanced under: its label, the first of its labels, or the
    type of its first entity (NER)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("label")
    return "" if value is None else str(value)
