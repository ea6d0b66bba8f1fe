"""Hostile and bad input (the corpus in tests/badinput/), through the real CLI on SmolLM2.

Every case must end with exit code 2 and exactly one line on stderr that names the file or
record (and line) and carries a hint; never a traceback. With ``--on-error skip`` the good
records of a mixed file are labeled and the bad ones are rows with status ``skipped``/``failed``
and their reason, and ``--resume`` neither repeats nor loses any of them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent / "badinput"

# (case, task file, input file, what the one line must contain)
INPUT_CASES = [
    ("malformed-json", "malformed.jsonl", ["malformed.jsonl:2", "malformed JSON"]),
    ("truncated-last-line", "truncated.jsonl", ["truncated.jsonl:3", "malformed JSON"]),
    ("latin-1", "latin1.jsonl", ["latin1.jsonl:2", "UTF-8"]),
    ("utf-16", "utf16.jsonl", ["utf16.jsonl:1", "UTF-16"]),
    ("nul-block", "nul_block.jsonl", ["nul_block.jsonl:2"]),
    ("nul-in-string", "nul_in_string.jsonl", ["nul_in_string.jsonl:1", "control character"]),
    ("binary", "binary.jsonl", ["binary.jsonl:1"]),
    ("not-an-object", "not_object.jsonl", ["not_object.jsonl:2", "not an object"]),
    ("csv-unclosed-quote", "bad_quote.csv", ["bad_quote.csv:3", "CSV"]),
    ("csv-stray-quote", "stray_quote.csv", ["stray_quote.csv:2", "CSV"]),
    ("csv-columns", "columns.csv", ["columns.csv:3", "columns"]),
    ("csv-duplicate-header", "duplicate_header.csv", ["duplicate_header.csv:1", "text"]),
    ("csv-utf-16", "bom_utf16.csv", ["bom_utf16.csv:1", "UTF-16"]),
    ("beyond-context", "enormous.jsonl", ["enormous.jsonl:2", "'big'", "context"]),
    ("empty-text", "empty_text.jsonl", ["empty_text.jsonl:2", "empty 'text'"]),
    ("whitespace-text", "whitespace_text.jsonl", ["whitespace_text.jsonl:1", "empty 'text'"]),
    ("null-text", "null_text.jsonl", ["null_text.jsonl:1", "empty 'text'"]),
    ("missing-field", "missing_field.jsonl", ["missing_field.jsonl:1", "no field 'text'"]),
    ("duplicate-id", "duplicate_ids.jsonl", ["duplicate_ids.jsonl:3", "duplicate id 'a'"]),
    ("null-id", "null_id.jsonl", ["null_id.jsonl:1", "id field"]),
    ("empty-id", "empty_id.jsonl", ["empty_id.jsonl:1", "id field"]),
    ("object-id", "object_id.jsonl", ["object_id.jsonl:1", "id field"]),
    ("newline-in-id", "newline_id.jsonl", ["newline_id.jsonl:2", "duplicate id"]),
    ("empty-file", "empty.jsonl", ["empty.jsonl", "no records"]),
    ("whitespace-only-file", "whitespace_only.jsonl", ["whitespace_only.jsonl", "no records"]),
    ("json-array-file", "input.json", ["input.json", "jq"]),
    ("missing-file", "nowhere.jsonl", ["nowhere.jsonl", "not found"]),
]
TASK_CASES = [
    ("broken-yaml", "tasks_broken_yaml.yaml", ["tasks_broken_yaml.yaml:3"]),
    ("task-not-a-mapping", "tasks_not_mapping.yaml", ["tasks_not_mapping.yaml"]),
    ("unknown-key", "tasks_unknown_key.yaml", ["sampels", "did you mean 'samples'"]),
    ("bad-value", "tasks_bad_value.yaml", ["tasks_bad_value.yaml", "samples"]),
    ("no-labels", "tasks_no_labels.yaml", ["tasks_no_labels.yaml", "labels"]),
    ("example-unknown-label", "tasks_examples_unknown_label.yaml", ["e2", "mixed"]),
    ("examples-malformed", "tasks_examples_malformed.yaml", ["examples_malformed.jsonl:2"]),
    ("examples-missing", "tasks_examples_missing.yaml", ["nowhere.jsonl"]),
    ("template-undefined", "tasks_template_undefined.yaml", ["template_undefined", "nope"]),
    ("template-syntax", "tasks_template_syntax.yaml", ["template_syntax", "line 2"]),
    ("template-escape", "tasks_template_escape.yaml", ["template_escape", "unsafe"]),
    ("template-escape-user", "tasks_template_escape_user.yaml", ["template_escape_user", "unsafe"]),
    ("template-missing", "tasks_template_missing.yaml", ["nowhere.v1"]),
    ("schema-syntax-error", "tasks_schema_syntax.yaml", ["schema_syntax.py", "line 3"]),
    ("schema-import-error", "tasks_schema_import.yaml", ["schema_import.py", "no_such_package"]),
    ("schema-no-such-class", "tasks_schema_no_class.yaml", ["schema_ok.py", "Nope"]),
    ("schema-not-a-model", "tasks_schema_not_model.yaml", ["schema_ok.py", "NOT_A_MODEL"]),
]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """The corpus in a scratch folder, with the broken schema files named ``.py``."""
    folder = tmp_path / "badinput"
    shutil.copytree(CORPUS, folder)
    for text in folder.glob("*.py.txt"):
        text.rename(text.with_suffix(""))
    return folder


def llmlabel(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmlabel", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def run(corpus: Path, task: str, data: str, *extra: str) -> subprocess.CompletedProcess[str]:
    out = corpus / "out.jsonl"
    return llmlabel("run", task, "-i", data, "-o", out, "--no-cache", *extra, cwd=corpus)


def served(url: str) -> tuple[str, ...]:
    """Options that send the task to the shared SmolLM2 server: no model load per case."""
    return ("--backend", "openai_compat", "--base-url", url, "--model", "smollm2")


def assert_bad_input(result: subprocess.CompletedProcess[str], needles: list[str]) -> None:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert result.returncode == 2, result.stderr
    assert line.startswith("error: ") and "; hint: " in line, line
    assert "Traceback" not in result.stderr and "error: unexpected" not in line, line
    for needle in needles:
        assert needle in line, line


@pytest.mark.parametrize(
    ("data", "needles"), [c[1:] for c in INPUT_CASES], ids=[c[0] for c in INPUT_CASES]
)
def test_bad_input_is_one_line_exit_2(
    corpus: Path, embedded_server_url: str, data: str, needles: list[str]
) -> None:
    assert_bad_input(run(corpus, "task.yaml", data, *served(embedded_server_url)), needles)


@pytest.mark.parametrize(
    ("task", "needles"), [c[1:] for c in TASK_CASES], ids=[c[0] for c in TASK_CASES]
)
def test_bad_task_is_one_line_exit_2(
    corpus: Path, smollm2_path: Path, task: str, needles: list[str]
) -> None:
    assert_bad_input(run(corpus, task, "good.jsonl"), needles)


def rows(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_skip_labels_the_good_records_and_lists_the_bad(
    corpus: Path, embedded_server_url: str
) -> None:
    skip = ("--on-error", "skip", *served(embedded_server_url))
    result = run(corpus, "task.yaml", "mixed.jsonl", *skip)
    assert result.returncode == 0, result.stderr
    written = rows(corpus / "out.jsonl")
    by_where = {r.get("where"): r for r in written if r["status"] == "skipped"}
    assert set(by_where) == {f"mixed.jsonl:{n}" for n in (2, 4, 5, 7, 8)}
    assert by_where["mixed.jsonl:2"]["id"] is None  # unreadable: no id of its own
    assert by_where["mixed.jsonl:4"]["id"] is None  # repeats g1's id
    assert by_where["mixed.jsonl:5"]["id"] == "e1"
    assert "duplicate id 'g1'" in by_where["mixed.jsonl:4"]["error"]
    assert "UTF-8" in by_where["mixed.jsonl:7"]["error"]
    big = by_where["mixed.jsonl:8"]  # too long for the model's context
    assert big["id"] == "big" and "'big' does not fit" in big["error"]
    labeled = {r["id"] for r in written if r["status"] in ("labeled", "abstained")}
    assert labeled == {"g1", "g2", "g3"} and len(written) == 8
    assert "skipped 5 bad record(s)" in result.stdout and "mixed.jsonl:7" in result.stdout

    again = run(corpus, "task.yaml", "mixed.jsonl", *skip, "--resume")
    assert again.returncode == 0, again.stderr
    assert rows(corpus / "out.jsonl") == written  # nothing repeated, nothing lost


def test_fail_stops_at_the_first_bad_record_and_keeps_rows(
    corpus: Path, smollm2_path: Path
) -> None:
    result = run(corpus, "task.yaml", "mixed.jsonl", "--concurrency", "1")
    assert_bad_input(result, ["mixed.jsonl:2", "--on-error skip"])
    for row in rows(corpus / "out.jsonl"):
        assert row["status"] in ("labeled", "abstained") and row["id"] == "g1"
