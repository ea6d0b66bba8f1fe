"""A hostile or careless user against the real CLI (an instant OpenAI-compatible server on
127.0.0.1): odd output paths, task files and options each end in one line naming the file and
a non-zero exit, never a hang, a traceback, a lost row or a failure reported as success."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clitools import one_line_error, run_on_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))

from instant_server import InstantServer  # noqa: E402

from tests.stub_server import Reply, StubServer  # noqa: E402

TASK = """\
name: hostile
labels: [positive, negative]
fields: [text]
samples: 1
temperature: 0
confidence: vote
"""
RECORDS = [{"id": f"r{i}", "text": f"review {i}"} for i in range(3)]


@pytest.fixture(scope="module")
def instant() -> Iterator[InstantServer]:
    with InstantServer() as server:
        yield server


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    task = tmp_path / "task.yaml"
    task.write_text(TASK, encoding="utf-8")
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    return task, data


def run(url: str, task: Path, *args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run_on_server(url, task, *args, model="instant", timeout=60, **kwargs)


def test_an_output_that_is_a_fifo_is_refused_not_waited_on(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)
    result = run(instant.url, task, "-i", data, "-o", fifo, "--no-cache")
    one_line_error(result, 1, "out.jsonl", "not a regular file")
    assert not (tmp_path / "out.manifest.json").exists()


def test_an_output_that_is_a_device_is_refused_and_no_manifest_is_left_beside_it(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    device = tmp_path / "null"
    device.symlink_to(os.devnull)
    result = run(instant.url, task, "-i", data, "-o", device, "--no-cache")
    one_line_error(result, 1, "not a regular file")
    assert not (tmp_path / "null.manifest.json").exists()


def test_brackets_in_a_label_or_an_output_path_are_printed_as_text(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    task.write_text(TASK.replace("[positive, negative]", '["[/]", "[bold]x"]'), encoding="utf-8")
    out = tmp_path / "out[/red].jsonl"
    result = run(instant.url, task, "-i", data, "-o", out, "--no-cache")
    assert result.returncode == 0, result.stderr
    assert "[/]" in result.stdout and "out[/red].manifest.json" in result.stdout.replace("\n", "")
    assert len(out.read_text().splitlines()) == len(RECORDS)


def test_a_negative_limit_is_a_usage_error(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    result = run(instant.url, task, "-i", data, "-o", tmp_path / "out.jsonl", "--limit", "-1")
    assert result.returncode == 2, result.stderr
    assert "--limit" in result.stderr and "unexpected" not in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


SCHEMA = """\
import sys
import time
from typing import Literal

from pydantic import BaseModel, field_validator


class Answer(BaseModel):
    label: Literal["positive", "negative"]

    @field_validator("label")
    @classmethod
    def _check(cls, value: str) -> str:
        {body}
"""


@pytest.mark.parametrize(
    ("schema", "needle"),
    [
        ("import sys\nsys.exit(0)\n", "SystemExit: 0"),
        (SCHEMA.format(body="sys.exit(0)"), "SystemExit: 0"),
        (SCHEMA.format(body="raise RuntimeError('broken check')"), "RuntimeError: broken check"),
    ],
    ids=["exit-on-import", "exit-in-validator", "error-in-validator"],
)
def test_a_schema_that_exits_or_breaks_is_an_error_not_a_success(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer, schema: str, needle: str
) -> None:
    task, data = files
    (tmp_path / "answer.py").write_text(schema, encoding="utf-8")
    task.write_text(TASK + "schema: answer.py:Answer\n", encoding="utf-8")
    result = run(instant.url, task, "-i", data, "-o", tmp_path / "out.jsonl", "--no-cache")
    one_line_error(result, 2, "answer.py", needle)


def test_a_labeling_function_that_exits_is_an_error_not_a_success(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    (tmp_path / "rules.py").write_text("import sys\n\n\ndef rule(record):\n    sys.exit(0)\n")
    task.write_text(TASK + "labeling_functions:\n  - {name: r, python: rules.py:rule}\n")
    result = run(instant.url, task, "-i", data, "-o", tmp_path / "out.jsonl", "--no-cache")
    one_line_error(result, 2, "labeling function 'r'", "SystemExit: 0")


def test_a_cache_path_that_is_another_file_is_refused_and_never_said_to_be_deletable(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    first = tmp_path / "first.jsonl"
    assert run(instant.url, task, "-i", data, "-o", first, "--no-cache").returncode == 0
    result = run(instant.url, task, "-i", data, "-o", tmp_path / "out.jsonl", "--cache", first)
    line = one_line_error(result, 1, "first.jsonl", "not a database")
    assert "delete" not in line.split("hint:")[1].split("(")[0]


def test_a_cache_path_that_is_another_database_is_refused_and_left_as_it_was(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    conn.close()
    before = db.read_bytes()
    result = run(instant.url, task, "-i", data, "-o", tmp_path / "out.jsonl", "--cache", db)
    one_line_error(result, 1, "app.db", "not a request cache", "users")
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db", "in.jsonl", "task.yaml"]


def billion_laughs(levels: int) -> str:
    """Few-shot items whose text is aliases of aliases: 9**levels strings once expanded."""
    lines = ['      a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"      a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    item = "\n".join(lines) + f"\n      text: *a{levels - 1}\n"
    return "examples:\n  items:\n    - id: e1\n      label: positive\n" + item


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (TASK + billion_laughs(9), "expands to more than 1,000,000 values"),
        (TASK + "instructions: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        (TASK.encode() + b"description: caf\xe9\n", "not UTF-8 (byte 0xe9"),
    ],
    ids=["billion-laughs", "deep", "latin-1"],
)
def test_a_hostile_task_file_is_one_line_and_exit_2(
    files: tuple[Path, Path],
    tmp_path: Path,
    instant: InstantServer,
    content: str | bytes,
    needle: str,
) -> None:
    task, data = files
    task.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run(instant.url, task, "-i", data, "-o", tmp_path / "out.jsonl", "--no-cache")
    one_line_error(result, 2, "task.yaml", needle)
    assert not (tmp_path / "out.jsonl").exists()


def test_a_template_that_is_not_utf8_is_one_line_and_exit_2(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    (tmp_path / "latin.jinja").write_bytes(b"Caf\xe9 review: {{ text }}\n")
    task.write_text(TASK + "template: latin.jinja\n", encoding="utf-8")
    result = run(instant.url, task, "-i", data, "-o", tmp_path / "out.jsonl", "--no-cache")
    one_line_error(result, 2, "latin.jinja", "template is not UTF-8")


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        (["--samples", "1001"], "'samples': Input should be less than or equal to 1000"),
        (["--concurrency", "10001"], "'concurrency': Input should be less than or equal to 10000"),
    ],
    ids=["samples", "concurrency"],
)
def test_samples_and_concurrency_past_their_caps_are_refused_before_any_work(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer, option: list[str], needle: str
) -> None:
    task, data = files
    result = run(instant.url, task, "-i", data, "-o", tmp_path / "out.jsonl", "--no-cache", *option)
    one_line_error(result, 2, needle)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("labels", ["[Positive, positive]", "[positive, ' positive']"])
def test_labels_that_differ_only_in_case_or_whitespace_are_refused(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer, labels: str
) -> None:
    task, data = files
    task.write_text(TASK.replace("[positive, negative]", labels), encoding="utf-8")
    result = run(instant.url, task, "-i", data, "-o", tmp_path / "out.jsonl", "--no-cache")
    one_line_error(result, 2, "labels differ only in case or surrounding whitespace")


def test_a_staged_file_left_by_a_kill_before_the_overwrite_swap_is_removed_by_the_next_run(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    out = tmp_path / "out.jsonl"
    assert run(instant.url, task, "-i", data, "-o", out, "--no-cache").returncode == 0
    before = out.read_bytes(), (tmp_path / "out.manifest.json").read_bytes()
    with StubServer(lambda body: Reply(delay=60)) as hanging:
        command = [sys.executable, "-m", "llmlabel", "run", str(task), "-i", str(data)]
        command += ["-o", str(out), "--overwrite", "--no-cache", "--backend", "openai_compat"]
        command += ["--base-url", hanging.url, "--model", "instant"]
        killed = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".out.jsonl.llmlabel-*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.05)
        while not hanging.calls and time.monotonic() < deadline:
            time.sleep(0.05)
        killed.kill()
        killed.wait()
    assert list(tmp_path.glob(".out.jsonl.llmlabel-*.tmp"))
    assert (out.read_bytes(), (tmp_path / "out.manifest.json").read_bytes()) == before
    resumed = run(instant.url, task, "-i", data, "-o", out, "--no-cache", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not list(tmp_path.glob(".*.tmp"))
    assert out.read_bytes() == before[0]


@pytest.fixture
def labeled(files: tuple[Path, Path], tmp_path: Path, instant: InstantServer) -> dict[str, Path]:
    """A labeled output named summary.json (what a report folder writes), its gold and input."""
    task, data = files
    out = tmp_path / "summary.json"
    assert run(instant.url, task, "-i", data, "-o", out, "--no-cache").returncode == 0
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "".join(json.dumps({"id": r["id"], "label": "positive"}) + "\n" for r in RECORDS)
    )
    return {"task": task, "input": data, "predictions": out, "gold": gold}


def test_eval_never_writes_its_report_over_the_predictions(labeled: dict[str, Path]) -> None:
    pytest.importorskip("matplotlib")
    predictions = labeled["predictions"]
    before = predictions.read_bytes()
    result = cli("eval", predictions, "-g", labeled["gold"], "--report", predictions.parent)
    one_line_error(result, 2, "--report's summary.json would replace PREDICTIONS")
    assert predictions.read_bytes() == before


def test_distill_never_writes_its_report_over_the_predictions_nor_into_a_file(
    labeled: dict[str, Path],
) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    predictions, gold, data = labeled["predictions"], labeled["gold"], labeled["input"]
    before = predictions.read_bytes(), gold.read_bytes()
    args = ("distill", predictions, "-i", data, "-g", gold, "--embedder", "tfidf", "--report")
    one_line_error(cli(*args, predictions.parent), 2, "would replace PREDICTIONS")
    one_line_error(cli(*args, gold), 1, "gold.jsonl", "cannot write the report")
    assert (predictions.read_bytes(), gold.read_bytes()) == before


def test_compare_refuses_a_report_folder_where_a_variant_would_replace_its_input(
    labeled: dict[str, Path], tmp_path: Path, instant: InstantServer
) -> None:
    pytest.importorskip("matplotlib")
    (tmp_path / "predictions").mkdir()
    data = tmp_path / "predictions" / "a.jsonl"
    data.write_bytes(labeled["input"].read_bytes())
    compare = tmp_path / "compare.yaml"
    backend = f"{{type: openai_compat, base_url: '{instant.url}', model: instant}}"
    shared = f"shared: {{backend: {backend}}}\n"
    compare.write_text(f"task: task.yaml\n{shared}variants:\n  a: {{}}\n  b: {{seed: 1}}\n")
    result = cli("compare", compare, "-g", labeled["gold"], "-i", data, "--report", tmp_path)
    one_line_error(result, 2, "--report's predictions/a.jsonl would replace --input")
    assert data.read_bytes() == labeled["input"].read_bytes()
    assert not (tmp_path / "report.md").exists()


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "llmlabel", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_review_force_never_replaces_a_reviewers_export_saved_in_the_review_folder(
    tmp_path: Path,
) -> None:
    sentiment = ROOT / "examples" / "sentiment"
    args = ("review", sentiment / "predictions.sample.jsonl", "-i", sentiment / "reviews.jsonl")
    args += ("--task", sentiment / "task.yaml", "--budget", "3", "-o", tmp_path / "rv")
    assert cli(*args).returncode == 0
    assert cli(*args, "--force").returncode == 0  # its own files: replaced
    export = tmp_path / "rv" / "export.json"
    export.write_text("[]  # what the annotators did")
    one_line_error(cli(*args, "--force"), 1, "did not write (export.json)")
    assert export.read_text() == "[]  # what the annotators did"


@pytest.mark.parametrize("manifest", [None, "{not json"], ids=["missing", "corrupt"])
def test_resume_without_a_readable_manifest_is_refused_not_mixed_with_another_task(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer, manifest: str | None
) -> None:
    task, data = files
    out = tmp_path / "out.jsonl"
    assert (
        run(instant.url, task, "-i", data, "-o", out, "--no-cache", "--limit", "1").returncode == 0
    )
    if manifest is None:
        (tmp_path / "out.manifest.json").unlink()
    else:
        (tmp_path / "out.manifest.json").write_text(manifest)
    before = out.read_bytes()
    other = tmp_path / "other.yaml"
    other.write_text(TASK.replace("hostile", "another-task"), encoding="utf-8")
    result = run(instant.url, other, "-i", data, "-o", out, "--no-cache", "--resume")
    one_line_error(result, 2, "out.manifest.json", "cannot resume", "missing or unreadable")
    assert out.read_bytes() == before


def test_a_password_in_the_base_url_is_never_written_or_shown(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    secret = "s3cr3t-passw0rd"
    with_password = instant.url.replace("http://", f"http://alice:{secret}@")
    out = tmp_path / "out.jsonl"
    ok = run(with_password, task, "-i", data, "-o", out, "--no-cache")
    assert ok.returncode == 0, ok.stderr
    assert "alice:***@" in (tmp_path / "out.manifest.json").read_text()
    down = f"http://alice:{secret}@127.0.0.1:9/v1"
    failed = run(down, task, "-i", data, "-o", tmp_path / "down.jsonl", "--no-cache")
    one_line_error(failed, 1, "cannot reach http://alice:***@127.0.0.1:9/v1")
    for path in tmp_path.iterdir():
        assert secret not in path.read_text(errors="replace"), path
    assert secret not in ok.stdout + ok.stderr + failed.stdout


def test_calibrate_replaces_only_an_earlier_calibration_file(
    labeled: dict[str, Path], tmp_path: Path
) -> None:
    args = ("calibrate", labeled["predictions"], "-g", labeled["gold"], "-o")
    calib = tmp_path / "calib.json"
    assert cli(*args, calib).returncode == 0
    again = cli(*args, calib)
    assert again.returncode == 0, again.stderr
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}')
    one_line_error(cli(*args, notes), 1, "notes.json", "not a calibration file")
    assert notes.read_text() == '{"mine": true}'
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    one_line_error(cli(*args, fifo), 1, "fifo.json", "not a calibration file")
    assert fifo.is_fifo()


@pytest.mark.parametrize("command", ["merge", "audit"])
def test_force_never_renames_a_file_over_a_fifo(
    labeled: dict[str, Path], tmp_path: Path, command: str
) -> None:
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    predictions, gold, task = labeled["predictions"], labeled["gold"], labeled["task"]
    args = {
        "merge": ("merge", predictions, "--corrections", gold, "--task", task),
        "audit": ("audit", predictions, "-g", gold),
    }[command]
    one_line_error(cli(*args, "-o", fifo, "--force"), 1, "not a regular file")
    assert fifo.is_fifo()


def test_a_cache_path_that_is_a_fifo_is_refused_and_nothing_is_left_beside_it(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    fifo = tmp_path / "cache.db"
    os.mkfifo(fifo)
    result = run(instant.url, task, "-i", data, "-o", tmp_path / "out.jsonl", "--cache", fifo)
    one_line_error(result, 1, "cache.db", "not a regular file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.db", "in.jsonl", "task.yaml"]


def test_an_output_name_too_long_for_the_file_system_is_one_line(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer
) -> None:
    task, data = files
    result = run(instant.url, task, "-i", data, "-o", tmp_path / ("x" * 300 + ".jsonl"))
    one_line_error(result, 1, "cannot use output", "too long")


@pytest.mark.parametrize("option", ["-i", "--cache", "task"])
def test_any_path_too_long_for_the_file_system_is_one_line(
    files: tuple[Path, Path], tmp_path: Path, instant: InstantServer, option: str
) -> None:
    task, data = files
    long = tmp_path / ("y" * 300)
    args: list[str | Path] = ["-i", data, "-o", tmp_path / "out.jsonl", "--cache", tmp_path / "c"]
    if option == "task":
        task = long
    else:
        args[args.index(option) + 1] = long
    one_line_error(run(instant.url, task, *args), 2, "File name too long", "check the path")
