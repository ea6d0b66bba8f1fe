"""The command line: help for every command, one-line errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from typer.main import get_command

from llmlabel.cli import app

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "examples" / "sentiment" / "task.yaml"


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """Every command and group of the CLI, as the words that invoke it."""
    yield list(path)
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(get_command(app)))


def llmlabel(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "llmlabel", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(command: list[str]) -> None:
    assert len(COMMANDS) >= 13  # the enumeration found the whole tree, not a stub
    result = llmlabel(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_version_and_plain_flags() -> None:
    from llmlabel import __version__

    result = llmlabel("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"llmlabel {__version__}"
    for command in COMMANDS:
        shown = llmlabel(*command, "--help").stdout
        assert "--no-no-" not in shown, command  # a flag is --x, not --x/--no-x pairs of "no"


def test_records_without_the_id_field_are_numbered_and_the_summary_says_so(
    tmp_path: Path, smollm2_path: Path
) -> None:
    data = tmp_path / "tickets.csv"
    data.write_text("ticket_id,text\nT-17,Great service\nT-18,Never again\n")
    result = llmlabel(
        "run", str(TASK), "-i", str(data), "-o", str(tmp_path / "out.jsonl"),
        "--model", str(smollm2_path), "--no-cache",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = " ".join((result.stdout + result.stderr).split())
    assert "2 record(s) have no 'id' field" in shown and "`id_field:`" in shown
    ids = [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(ids) == ["0", "1"]


def test_progress_lines_where_there_is_no_terminal(tmp_path: Path, smollm2_path: Path) -> None:
    """Captured output is no terminal (CI, nohup, a notebook's !llmlabel): lines, not a bar."""
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "Lovely."}\n{"id": "b", "text": "Awful."}\n')
    result = llmlabel(
        "run", str(TASK), "-i", str(data), "-o", str(tmp_path / "out.jsonl"),
        "--model", str(smollm2_path), "--no-cache",
        env={**os.environ, "LLMLABEL_PROGRESS_SECONDS": "0"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    assert [line.split(" records")[0] for line in lines] == ["progress: 1/2", "progress: 2/2"]
    assert "rec/s" in lines[-1] and "2 labeled" in lines[-1]


def test_preview_shows_the_messages_and_schema_without_a_model() -> None:
    data = ROOT / "examples/sentiment/reviews.jsonl"
    result = llmlabel("preview", str(TASK), "-i", str(data), "-n", "2", "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    texts = [json.loads(line)["text"] for line in data.read_text().splitlines()[:2]]
    assert [r["id"] for r in found["records"]] == ["r01", "r02"]
    for record, text in zip(found["records"], texts, strict=True):
        roles = [m["role"] for m in record["messages"]]
        assert roles == ["system", *["user", "assistant"] * len(record["examples"]), "user"]
        assert record["messages"][-1]["content"] == text
        assert len(record["tokens"]) == len(roles) and all(t > 0 for t in record["tokens"])
    assert found["schema"]["properties"]["label"]["enum"] == ["positive", "negative"]
    shown = llmlabel("preview", str(TASK), "-i", str(data), "-n", "1")
    assert "[system]" in shown.stdout and texts[0] in shown.stdout
    assert "answer schema" in shown.stdout


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_a_bad_option_value_is_a_usage_error_not_a_crash() -> None:
    result = llmlabel("run", str(TASK), "-i", "x.jsonl", "--samples", "abc")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Invalid value for '--samples'" in result.stderr
    assert "unexpected" not in result.stderr


def test_missing_task_file(tmp_path: Path) -> None:
    result = llmlabel("run", str(tmp_path / "nope.yaml"), "-i", "x.jsonl", "-o", "o.jsonl")
    assert_one_line_error(result, "nope.yaml", "task file not found", "hint:")


def test_unknown_key_in_task_file_suggests_the_right_one(tmp_path: Path) -> None:
    bad = tmp_path / "task.yaml"
    bad.write_text("name: t\nlabels: [a, b]\nsampels: 3\n")
    result = llmlabel("run", str(bad), "-i", "x.jsonl", "--dry-run")
    assert_one_line_error(result, "unknown key 'sampels'", "did you mean 'samples'")


def test_malformed_jsonl_names_the_line(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": 1, "text": "ok"}\n{"id": 2, "text": \n')
    result = llmlabel("run", str(TASK), "-i", str(data), "--dry-run")
    assert_one_line_error(result, "in.jsonl:2")


def test_missing_field_names_the_record(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "ok"}\n{"id": "b", "body": "no text"}\n')
    result = llmlabel("run", str(TASK), "-i", str(data), "--dry-run")
    assert_one_line_error(result, "text", "in.jsonl:2")


def test_unknown_label_in_examples_names_the_example(tmp_path: Path) -> None:
    (tmp_path / "ex.jsonl").write_text('{"id": "e1", "text": "meh", "label": "mixed"}\n')
    task = tmp_path / "task.yaml"
    task.write_text("name: t\nlabels: [positive, negative]\nexamples: {path: ex.jsonl}\n")
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "ok"}\n')
    result = llmlabel("run", str(task), "-i", str(data), "--dry-run")
    assert_one_line_error(result, "e1", "mixed")


def test_broken_schema_path(tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("name: t\nschema: nowhere.py:Label\n")
    result = llmlabel("run", str(task), "-i", "x.jsonl", "--dry-run")
    assert_one_line_error(result, "nowhere.py", "schema file not found")


def test_undefined_template_variable(tmp_path: Path) -> None:
    (tmp_path / "mine.v1.jinja").write_text(
        "{% block system %}x{% endblock %}"
        "{% block user %}{{ record.text }} {{ nope }}{% endblock %}"
    )
    task = tmp_path / "task.yaml"
    task.write_text("name: t\nlabels: [a, b]\ntemplate: mine.v1\n")
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "ok"}\n')
    result = llmlabel("run", str(task), "-i", str(data), "--dry-run")
    assert_one_line_error(result, "mine.v1", "nope")


def test_output_that_exists_needs_resume_or_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "old"}\n')
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "ok"}\n')
    result = llmlabel("run", str(TASK), "-i", str(data), "-o", str(out))
    assert_one_line_error(result, "--resume", "--overwrite")


def test_unreachable_server_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "ok"}\n')
    result = llmlabel(
        "run",
        str(TASK),
        "-i",
        str(data),
        "-o",
        str(tmp_path / "o.jsonl"),
        "--backend",
        "openai_compat",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--no-cache",
    )
    assert_one_line_error(result, "127.0.0.1:9")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = llmlabel("run", str(tmp_path / "nope.yaml"), "-i", "x", "--dry-run", "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_dry_run_prints_the_plan(tmp_path: Path) -> None:
    result = llmlabel(
        "run", str(TASK), "-i", str(ROOT / "examples" / "sentiment" / "reviews.jsonl"), "--dry-run"
    )
    assert result.returncode == 0, result.stderr
    assert "records" in result.stdout and "40" in result.stdout
    assert json.loads(
        (ROOT / "examples" / "sentiment" / "reviews.jsonl").read_text().splitlines()[0]
    )
    # 40 records x 1 sample x max_tokens 64 = 2,560 completion tokens at most; with prices,
    # the cost runs from the prompt's alone to the prompt's plus every completion token's.
    priced = llmlabel(
        "run", str(TASK), "-i", str(ROOT / "examples" / "sentiment" / "reviews.jsonl"),
        "--dry-run", "--price-input", "1", "--price-output", "1000",
    )  # fmt: skip
    assert priced.returncode == 0, priced.stderr
    assert "2,560" in priced.stdout and "cost (est., USD)" in priced.stdout
    assert " to 2.56" in priced.stdout
