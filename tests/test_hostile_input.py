"""Hostile input lines and hostile answers, through the real CLI against a stub server on
127.0.0.1: each is a bad record (a ``skipped`` row under ``--on-error skip``, one line naming
the line under ``fail``), never an unexpected crash; ``--resume`` and ``--dry-run`` agree."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clitools import run_on_server
from tests.stub_server import Reply, StubServer, default_answer

TASK = """\
name: hostile
labels: [positive, negative]
fields: [text]
samples: 1
temperature: 0
max_tokens: 16
retries: {attempts: 1, reask: 0}
"""
DEEP = "[" * 100_000 + "]" * 100_000
HOSTILE = [  # (line, what the skipped row's error says)
    ('{"id": "deep", "text": ' + DEEP + "}", "nested deeper than"),
    ('{"id": "bigint", "text": ' + "9" * 5000 + "}", "4300 digits"),
    ('{"id": ' + "7" * 5000 + ', "text": "x"}', "4300 digits"),
    ('{"id": "surrogate", "text": "half \\ud800 a pair"}', "surrogate"),
    ('{"id": NaN, "text": "x"}', "id field 'id' is nan"),
    ('{"id": Infinity, "text": "x"}', "id field 'id' is inf"),
]


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    task = tmp_path / "task.yaml"
    task.write_text(TASK, encoding="utf-8")
    lines = ['{"id": "first", "text": "good"}', *(line for line, _ in HOSTILE)]
    lines += ['{"id": "last", "text": "also good", "big": 1e999, "x": ' + "[" * 60 + "]" * 60 + "}"]
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return task, data


def llmlabel(url: str, task: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_on_server(url, task, *args, "--no-cache", model="stub")


def one_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "unexpected" not in lines[0] and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_hostile_lines_are_skipped_rows_and_resume_keeps_them(
    stub: StubServer, files: tuple[Path, Path], tmp_path: Path
) -> None:
    task, data = files
    out = tmp_path / "out.jsonl"
    result = llmlabel(stub.url, task, "-i", data, "-o", out, "--on-error", "skip")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in rows if r["status"] == "labeled") == ["first", "last"]
    skipped = {r["where"]: r["error"] for r in rows if r["status"] == "skipped"}
    assert len(skipped) == len(HOSTILE), rows
    for number, (_, reason) in enumerate(HOSTILE, start=2):
        assert reason in skipped[f"{data}:{number}"], skipped

    again = llmlabel(stub.url, task, "-i", data, "-o", out, "--on-error", "skip", "--resume")
    assert again.returncode == 0, again.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(rows)


def test_hostile_lines_stop_fail_and_dry_run_with_one_line(
    stub: StubServer, files: tuple[Path, Path], tmp_path: Path
) -> None:
    task, data = files
    one_line(llmlabel(stub.url, task, "-i", data, "--dry-run"), f"{data}:2", "nested")
    result = llmlabel(stub.url, task, "-i", data, "-o", tmp_path / "out.jsonl")
    one_line(result, f"{data}:2", "nested deeper than 64 levels", "--on-error skip")
    for line, reason in HOSTILE[1:]:
        data.write_text(line + "\n", encoding="utf-8")
        one_line(llmlabel(stub.url, task, "-i", data, "--dry-run"), f"{data}:1", reason)


@pytest.mark.parametrize(
    "content",
    [DEEP, '{"label": ' + "9" * 5000 + "}"],
    ids=["deep-answer", "huge-int-answer"],
)
def test_a_hostile_answer_is_an_invalid_sample(
    content: str, files: tuple[Path, Path], tmp_path: Path
) -> None:
    def hostile(body: dict) -> Reply:  # type: ignore[type-arg]
        answer = default_answer(body)
        answer["choices"][0]["message"]["content"] = content
        return Reply(body=answer)

    task, _ = files
    data = tmp_path / "one.jsonl"
    data.write_text('{"id": "r1", "text": "good"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with StubServer(hostile) as stub:
        result = llmlabel(stub.url, task, "-i", data, "-o", out)
    assert "unexpected" not in result.stderr, result.stderr
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["status"] == "abstained" and "not valid JSON" in row["invalid"][0], row


def test_a_hostile_response_body_is_a_failed_row(files: tuple[Path, Path], tmp_path: Path) -> None:
    task, _ = files
    data = tmp_path / "one.jsonl"
    data.write_text('{"id": "r1", "text": "good"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with StubServer(lambda body: Reply(body=DEEP)) as stub:
        result = llmlabel(stub.url, task, "-i", data, "-o", out)
    assert result.returncode == 1 and "unexpected" not in result.stderr, result.stderr
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["status"] == "failed" and "not valid JSON" in row["error"], row


@pytest.mark.parametrize("content", [b"garbage", b"PAR1" + b"\0" * 64], ids=["text", "truncated"])
def test_a_broken_parquet_file_is_one_line(
    content: bytes, stub: StubServer, files: tuple[Path, Path], tmp_path: Path
) -> None:
    task, _ = files
    data = tmp_path / "in.parquet"
    data.write_bytes(content)
    result = llmlabel(stub.url, task, "-i", data, "-o", tmp_path / "out.jsonl")
    one_line(result, str(data), "cannot read Parquet")
