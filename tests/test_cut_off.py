"""An answer cut off by ``max_tokens`` (``finish_reason: "length"``) is reported as such,
through the real CLI against a stub server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.stub_server import Reply, StubServer, default_answer

TASK = """\
name: cut-off
labels: [positive, negative]
fields: [text]
samples: 2
max_tokens: 5
retries: {attempts: 1, reask: 1}
"""


def cut_off(body: dict[str, Any]) -> Reply:
    answer = default_answer(body)
    for choice in answer["choices"]:
        choice["message"]["content"] = '{"label": "posi'
        choice["finish_reason"] = "length"
    return Reply(body=answer)


def test_an_answer_cut_off_by_max_tokens_says_so(tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(TASK, encoding="utf-8")
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "r1", "text": "a long review"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with StubServer(cut_off) as stub:
        command = [sys.executable, "-m", "llmlabel", "run", str(task), "-i", str(data)]
        command += ["-o", str(out), "--no-cache", "--backend", "openai_compat"]
        command += ["--base-url", stub.url, "--model", "stub"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["status"] == "abstained" and len(row["invalid"]) == 2, row
    for reason in row["invalid"]:
        assert "cut off by max_tokens (5)" in reason and "raise max_tokens" in reason, reason
        assert "not valid JSON" in reason
