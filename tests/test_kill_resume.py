"""SIGKILL a real `llmlabel run` three times at random points, resume each time: the output ends
with every input id exactly once and the labels of an uninterrupted run (SmolLM2, temperature 0,
through a llama.cpp server on 127.0.0.1). The full 20-kill run is eval/bench/kill_resume.py."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmlabel.backends.llama_server import serve_http
from llmlabel.core.settings import BackendSpec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval" / "bench"))

from kill_resume import check, command, kill_and_resume, run_to_end, write_input


@pytest.fixture(scope="module")
def one_slot_server(smollm2_path: Path) -> Iterator[str]:
    """One slot and one thread: deterministic at temperature 0, and quick on a busy machine."""
    spec = BackendSpec(model=str(smollm2_path), parallel=1, threads=1)
    with serve_http(spec, host="127.0.0.1", progress=False) as server:
        yield server.base_url


def test_three_kills_then_resume_lose_and_repeat_nothing(
    tmp_path: Path, one_slot_server: str
) -> None:
    records = 40
    ids = write_input(tmp_path / "in.jsonl", records)
    whole = tmp_path / "whole.jsonl"
    run_to_end(command(tmp_path / "in.jsonl", whole, tmp_path / "a.db", one_slot_server))
    killed = tmp_path / "killed.jsonl"
    base = command(tmp_path / "in.jsonl", killed, tmp_path / "b.db", one_slot_server)
    targets = sorted(random.Random(1).sample(range(1, records), 3))
    outcome = kill_and_resume(base, killed, targets, timeout=300)
    assert outcome.kills == 3, outcome  # every kill landed mid-run
    result = check(ids, whole, killed)
    assert result["ids_once_each"] and result["duplicated"] == result["missing"] == 0, result
    assert result["labels_differ"] == 0, result
