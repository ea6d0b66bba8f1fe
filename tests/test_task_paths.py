"""Templates, schemas and labeling functions resolve relative to the task file (and the
package's own prompts and schemas), never the current directory: through the real CLI against
a stub server on 127.0.0.1, a ``prompts/`` folder, a schema file and a rules file planted where
llmlabel happens to run change nothing and run no code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.stub_server import StubServer

PLANTED = """\
from pathlib import Path
Path(__file__).with_name("RAN").write_text("planted code ran")
"""


def plant(cwd: Path) -> None:
    (cwd / "prompts").mkdir(parents=True)
    (cwd / "prompts" / "classify.v1.jinja").write_text(
        "{% block system %}PLANTED{% endblock %}{% block user %}{{ record.text }}{% endblock %}"
    )
    (cwd / "mine.jinja").write_text("{% block system %}PLANTED{% endblock %}")
    (cwd / "schemas").mkdir()
    (cwd / "schemas" / "sentiment.py").write_text(PLANTED)
    (cwd / "rules.py").write_text(PLANTED + "def rule(record):\n    return 'positive'\n")


def llmlabel(cwd: Path, task: Path, url: str) -> subprocess.CompletedProcess[str]:
    data = task.with_name("in.jsonl")
    data.write_text('{"id": "a", "text": "fine"}\n', encoding="utf-8")
    command = [sys.executable, "-m", "llmlabel", "run", str(task), "-i", str(data)]
    command += ["-o", str(task.with_name("out.jsonl")), "--overwrite", "--no-cache"]
    command += ["--backend", "openai_compat", "--base-url", url, "--model", "stub"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_the_current_directory_replaces_no_template_or_schema(tmp_path: Path) -> None:
    cwd, folder = tmp_path / "here", tmp_path / "task"
    plant(cwd)
    folder.mkdir()
    task = folder / "task.yaml"
    task.write_text(
        "name: t\nlabels: [positive, negative]\nschema: schemas/sentiment.py:Sentiment\n",
        encoding="utf-8",
    )
    with StubServer() as stub:
        result = llmlabel(cwd, task, stub.url)
        bodies = list(stub.bodies)
    assert result.returncode == 0, result.stderr
    assert not (cwd / "schemas" / "RAN").exists()
    assert bodies and all("PLANTED" not in json.dumps(b) for b in bodies)
    assert "overall sentiment" in json.dumps(bodies[0])  # the package's own schema was used


def test_a_jinja_path_or_rules_file_in_the_current_directory_is_not_found(
    tmp_path: Path,
) -> None:
    cwd, folder = tmp_path / "here", tmp_path / "task"
    plant(cwd)
    folder.mkdir()
    template, rules = folder / "template.yaml", folder / "rules.yaml"
    template.write_text("name: t\nlabels: [positive, negative]\ntemplate: mine.jinja\n")
    rules.write_text(
        "name: t\nlabels: [positive, negative]\n"
        "labeling_functions: [{name: r, python: rules.py:rule}]\n"
    )
    with StubServer() as stub:
        found_template = llmlabel(cwd, template, stub.url)
        found_rules = llmlabel(cwd, rules, stub.url)
    assert found_template.returncode == 2, found_template.stderr
    assert "template 'mine.jinja' not found" in found_template.stderr
    assert found_rules.returncode == 2, found_rules.stderr
    assert "labeling function file not found" in found_rules.stderr
    assert not (cwd / "RAN").exists()


MARKING = """\
import os
from pathlib import Path
from pydantic import BaseModel
from typing import Literal
Path(os.environ["MARKER"]).write_text("task code ran")
class Label(BaseModel):
    label: Literal["positive", "negative"]
def rule(record):
    return None
"""


def test_the_docs_say_which_commands_run_task_code_and_they_do(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parent.parent / "docs" / "task-file.md"
    readme = docs.read_text(encoding="utf-8")
    start = readme.index("**A task file can run Python code.**")
    paragraph = readme[start : readme.index("\n\n", start)]
    for named in ("`run`", "`--dry-run`", "`compare`", "`export --task`", "`review`", "`merge`"):
        assert named in paragraph, named
    (tmp_path / "code.py").write_text(MARKING)
    task = tmp_path / "task.yaml"
    task.write_text(
        "name: t\nlabels: [positive, negative]\nschema: code.py:Label\n"
        "labeling_functions: [{name: r, python: code.py:rule}]\n"
    )
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "fine"}\n')
    preds = tmp_path / "preds.jsonl"
    preds.write_text('{"id": "a", "status": "labeled", "label": "positive", "confidence": 1.0}\n')
    commands = {
        "dry-run": ["run", task, "-i", data, "--dry-run"],
        "export": ["export", preds, "-i", data, "-o", tmp_path / "x.jsonl", "--task", task],
    }
    for name, args in commands.items():
        marker = tmp_path / f"ran-{name}"
        command = [sys.executable, "-m", "llmlabel", *map(str, args)]
        env = {**os.environ, "MARKER": str(marker)}
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
        assert marker.exists(), (name, result.stderr)
