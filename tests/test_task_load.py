"""``llmlabel.task.load``: one way in for a task file, a mapping and a ``TaskSpec``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grimp
import pytest
import yaml

from llmlabel.errors import ConfigError
from llmlabel.task import PreparedTask, load

TASK = """\
name: tickets
labels: [billing, login]
fields: [text]
schema: schema.py:Topic
template: prompts/route.jinja
examples:
  path: examples.jsonl
  k: 2
labeling_functions:
  - {name: rule, python: rules.py:rule}
"""
FILES = {
    "schema.py": "from typing import Literal\nfrom pydantic import BaseModel\n\n\n"
    "class Topic(BaseModel):\n    label: Literal['billing', 'login']\n",
    "prompts/route.jinja": "{% block system %}Route: {{ labels | map(attribute='name') | "
    "join(', ') }}. Answer {{ answer_format }}{% endblock %}\n"
    "{% block user %}{{ record.text }}{% endblock %}\n",
    "examples.jsonl": '{"id": "e1", "text": "charged twice", "label": "billing"}\n'
    '{"id": "e2", "text": "cannot sign in", "label": "login"}\n',
    "rules.py": "def rule(record):\n    return 'login' if 'password' in record['text'] else None\n",
}


def _task_folder(root: Path) -> Path:
    folder = root / "task"
    for name, text in {"task.yaml": TASK, **FILES}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _seen(task: PreparedTask) -> dict[str, Any]:
    """What a prepared task sends and checks: the parts that are values, not objects."""
    record = {"text": "my password expired"}
    return {
        "spec": task.spec,
        "base_dir": task.base_dir,
        "labels": task.labels,
        "schema": task.schema,
        "answers": task.answers,
        "answer_format": task.answer_format,
        "template": (task.renderer.name, task.renderer.hash),
        "messages": task.messages_for("r1", record),
        "functions": {name: f(record) for name, f in task.functions.items()},
        "provenance": task.provenance(),
    }


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # elsewhere than the task: relative paths follow base_dir
    return _task_folder(tmp_path)


def test_a_path_its_mapping_and_its_spec_prepare_the_same_task(folder: Path) -> None:
    from_path = load(folder / "task.yaml")
    data = yaml.safe_load((folder / "task.yaml").read_text(encoding="utf-8"))
    from_dict = load(data, base_dir=folder)
    from_spec = load(from_path.spec, base_dir=folder)
    assert from_path.base_dir == folder.resolve()
    assert _seen(from_path) == _seen(from_dict) == _seen(from_spec)
    assert from_path.spec.template == "prompts/route.jinja"
    assert _seen(from_path)["functions"] == {"rule": "login"}


def test_overrides_apply_alike_to_every_kind_of_source(folder: Path) -> None:
    overrides = {"samples": 3, "backend.model": "m", "seed": None}
    data = yaml.safe_load((folder / "task.yaml").read_text(encoding="utf-8"))
    specs = [
        load(folder / "task.yaml", overrides).spec,
        load(data, overrides, base_dir=folder).spec,
        load(load(folder / "task.yaml").spec, overrides, base_dir=folder).spec,
    ]
    assert specs[0] == specs[1] == specs[2]
    assert (specs[0].samples, specs[0].backend.model, specs[0].seed) == (3, "m", 0)


def test_errors_name_the_file_or_else_the_task(folder: Path) -> None:
    data = yaml.safe_load((folder / "task.yaml").read_text(encoding="utf-8"))
    with pytest.raises(ConfigError) as from_file:
        load(folder / "task.yaml", {"samples": 0})
    assert from_file.value.where == f"{folder / 'task.yaml'} (with command-line options)"
    with pytest.raises(ConfigError) as from_dict:
        load(data, {"samples": 0}, base_dir=folder)
    assert from_dict.value.where == "tickets (with command-line options)"
    with pytest.raises(ConfigError) as bad_dict:
        load({**data, "samples": 0}, base_dir=folder)
    assert bad_dict.value.where == "the task dict"


def test_the_task_file_is_read_by_io_and_validated_by_core_only() -> None:
    """One pass down the layers: the reader of task files does not validate them (only
    ``core.spec`` and its blocks in ``core.settings`` do), and neither imports the task module
    that puts the pieces together."""
    graph = grimp.build_graph("llmlabel", exclude_type_checking_imports=True, cache_dir=None)
    reader = graph.find_modules_directly_imported_by("llmlabel.io.taskfile")
    assert not {"llmlabel.core.spec", "llmlabel.core.settings"} & reader
    for module in ("llmlabel.io.taskfile", "llmlabel.core.spec"):
        assert not graph.chain_exists(importer=module, imported="llmlabel.task")


def test_label_takes_a_task_dict_as_label_records_and_labeler_do(tmp_path: Path) -> None:
    import json

    import llmlabel
    from tests.fakes import FakeBackend

    task = {"name": "t", "description": "Sentiment.", "labels": ["good", "bad"]}
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "text": "fine"}) + "\n", encoding="utf-8")
    backend = FakeBackend(lambda request, i: '{"label": "good"}')
    result = llmlabel.label(task, source, tmp_path / "out.jsonl", backend=backend, cache=False)
    assert result.stats.labeled == 1
    [row] = llmlabel.iter_output(tmp_path / "out.jsonl")
    assert row["label"] == "good"
