"""The circuit breaker through the real CLI against a stub server on 127.0.0.1: a run whose
every request fails the same way stops after ``retries.stop_after`` records in a row with one
line naming the failure, keeps its rows, exits 1, and ``--resume`` finishes it once the server
is fixed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.clitools import run_on_server
from tests.stub_server import Reply, StubServer, error

TASK = """\
name: breaker
labels: [positive, negative]
fields: [text]
samples: 1
concurrency: 1
backend: {timeout: 0.5}
retries: {attempts: 1, reask: 0%s}
"""
HTML = "<!doctype html><html><body>Welcome to nginx!</body></html>"
BROKEN = {
    "html-200": (Reply(body=HTML, headers={"Content-Type": "text/html"}), "not JSON"),
    "hangs": (Reply(delay=1.0), "timed out after 0.5s"),
    "5xx": (error(503, "upstream overloaded", "server_error"), "HTTP 503"),
}


def write_inputs(tmp_path: Path, stop_after: str = "", records: int = 10) -> tuple[Path, Path]:
    task = tmp_path / "task.yaml"
    task.write_text(TASK % stop_after, encoding="utf-8")
    data = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": f"r{i}", "text": f"review {i}"}) for i in range(records)]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return task, data


def llmlabel(url: str, task: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_on_server(url, task, *args, "--no-cache", model="stub")


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("case", list(BROKEN))
def test_every_request_failing_the_same_way_stops_the_run(case: str, tmp_path: Path) -> None:
    reply, needle = BROKEN[case]
    fixed = False
    with StubServer(lambda body: None if fixed else reply) as stub:
        task, data = write_inputs(tmp_path, ", stop_after: 3")
        out = tmp_path / "out.jsonl"
        result = llmlabel(stub.url, task, "-i", data, "-o", out)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert "stopped after 3 records in a row failed the same way" in lines[0]
        assert needle in lines[0] and "--resume" in lines[0], lines[0]
        assert stub.calls == 3
        assert [r["status"] for r in rows(out)] == ["failed"] * 3
        assert json.loads(out.with_suffix(".manifest.json").read_text())["status"] != "completed"

        fixed = True
        again = llmlabel(stub.url, task, "-i", data, "-o", out, "--resume")
        assert again.returncode == 0, again.stderr
    final = {r["id"]: r["status"] for r in rows(out)}
    assert sorted(final) == sorted(f"r{i}" for i in range(10))  # each once
    assert all(final[f"r{i}"] == "labeled" for i in range(3, 10))


def test_the_default_stops_after_five(tmp_path: Path) -> None:
    with StubServer(lambda body: error(500, "boom", "server_error")) as stub:
        task, data = write_inputs(tmp_path)
        result = llmlabel(stub.url, task, "-i", data, "-o", tmp_path / "out.jsonl")
        assert stub.calls == 5
    assert result.returncode == 1 and "stopped after 5 records" in result.stderr


def test_a_streak_broken_by_an_answer_does_not_stop(tmp_path: Path) -> None:
    calls = 0

    def every_other(body: dict[str, Any]) -> Reply | None:
        nonlocal calls
        calls += 1
        return error(503, "flaky", "server_error") if calls % 2 else None

    with StubServer(every_other) as stub:
        task, data = write_inputs(tmp_path, ", stop_after: 2")
        out = tmp_path / "out.jsonl"
        result = llmlabel(stub.url, task, "-i", data, "-o", out)
    assert result.returncode == 1 and "stopped after" not in result.stderr, result.stderr
    assert [r["status"] for r in rows(out)] == ["failed", "labeled"] * 5
