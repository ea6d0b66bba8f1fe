"""End to end on the real SmolLM2-135M model: in process and through an OpenAI-compatible
llama.cpp server on 127.0.0.1, plus SIGKILL-and-resume of a real run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import llmlabel

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "examples" / "sentiment" / "task.yaml"
REVIEWS = ROOT / "examples" / "sentiment" / "reviews.jsonl"
SMALL = {"backend.model": "smollm2-135m", "backend.parallel": 2, "samples": 3}


def read_rows(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()]


def by_id(row: dict[str, Any]) -> str:
    return str(row["id"])


def test_embedded_labels_every_record_with_valid_votes(tmp_path: Path, smollm2_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    voting = {**SMALL, "confidence": "vote"}
    result = llmlabel.label(TASK, REVIEWS, out, limit=6, overrides=voting, cache=tmp_path / "c.db")
    rows = read_rows(out)
    assert len(rows) == 6 and result.stats.labeled + result.stats.abstained == 6
    for row in rows:
        assert row["status"] in ("labeled", "abstained")
        assert sum(row["votes"].values()) + len(row["invalid"]) == 3
        if row["status"] == "labeled":
            assert row["label"] in ("positive", "negative")
            assert row["confidence"] == pytest.approx(row["votes"][row["label"]] / 3, abs=1e-6)
    # 3 samples on 2 slots: two requests per record (n=2, then n=1), plus one per re-ask
    assert result.stats.requests == 12 + result.stats.reasks
    again = llmlabel.label(
        TASK, REVIEWS, out, limit=6, overrides=voting, cache=tmp_path / "c.db", overwrite=True
    )
    # rows are written as records finish, so compare them by id
    assert again.stats.requests == 0
    assert sorted(read_rows(out), key=by_id) == sorted(rows, key=by_id)


def test_openai_compat_against_a_real_llama_cpp_server(
    tmp_path: Path, embedded_server_url: str
) -> None:
    overrides = {
        "backend.type": "openai_compat",
        "backend.base_url": embedded_server_url,
        "backend.model": "smollm2",
        "samples": 2,
    }
    rows = llmlabel.label_records(
        TASK,
        [{"id": "a", "text": "I love it, works perfectly."}, {"id": "b", "text": "Broke at once."}],
        overrides=overrides,
        cache=False,
    )
    assert [r["id"] for r in rows] == ["a", "b"]
    for row in rows:
        assert row["status"] == "labeled" and row["label"] in ("positive", "negative")
        assert row["provenance"]["backend"] == "openai_compat"


def run_cli(out: Path, cache: Path, *extra: str) -> subprocess.Popen[str]:
    args = [
        sys.executable, "-m", "llmlabel", "run", str(TASK), "-i", str(REVIEWS), "-o", str(out),
        "--model", "smollm2-135m", "--samples", "1", "--temperature", "0", "--concurrency", "2",
        "--cache", str(cache), *extra,
    ]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(
    tmp_path: Path, smollm2_path: Path
) -> None:
    whole = tmp_path / "whole.jsonl"
    first = run_cli(whole, tmp_path / "a.db")
    assert first.communicate(timeout=600) and first.returncode == 0
    killed = tmp_path / "killed.jsonl"
    proc = run_cli(killed, tmp_path / "b.db")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if killed.exists() and killed.read_bytes().count(b"\n") >= 10:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()  # reaps it and closes the pipes
    partial = killed.read_bytes().count(b"\n")
    assert 10 <= partial < 40, "the kill must land mid-run"
    resumed = run_cli(killed, tmp_path / "b.db", "--resume")
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    ids = [r["id"] for r in read_rows(killed)]
    expected = [json.loads(line)["id"] for line in REVIEWS.read_text().splitlines()]
    assert sorted(ids) == sorted(expected)  # every id exactly once
    labels = {r["id"]: r["label"] for r in read_rows(killed)}
    assert labels == {r["id"]: r["label"] for r in read_rows(whole)}


def test_multi_label_task_on_the_real_model(tmp_path: Path, smollm2_path: Path) -> None:
    tickets = ROOT / "examples" / "tickets"
    out = tmp_path / "tickets.jsonl"
    result = llmlabel.label(
        tickets / "task.yaml", tickets / "tickets.jsonl", out, limit=4, overrides=SMALL, cache=False
    )
    rows = read_rows(out)
    assert len(rows) == 4 and result.stats.failed == 0
    allowed = {"billing", "shipping", "product", "account", "refund"}
    for row in rows:
        assert row["status"] in ("labeled", "abstained")
        if row["status"] == "labeled":
            assert set(row["label"]) <= allowed
            assert set(row["label_confidence"]) == allowed
            assert row["confidence"] == min(row["label_confidence"].values())
