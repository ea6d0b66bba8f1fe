"""The request cache is keyed by the server, not only the model name: through the real CLI,
two stub servers on 127.0.0.1 serving a model of the same name never share cached answers,
while a rerun against the same server is answered from the cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.stub_server import Reply, StubServer, default_answer

TASK = """\
name: identity
labels: [positive, negative]
fields: [text]
samples: 1
"""


def negative(body: dict[str, Any]) -> Reply:
    answer = default_answer(body)
    for choice in answer["choices"]:
        choice["message"]["content"] = '{"label": "negative"}'
        choice.pop("logprobs", None)  # they spelled the default answer
    return Reply(body=answer)


def labels(url: str, tmp_path: Path) -> dict[str, str]:
    task, data, out = tmp_path / "task.yaml", tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    task.write_text(TASK, encoding="utf-8")
    data.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n', encoding="utf-8")
    command = [sys.executable, "-m", "llmlabel", "run", str(task), "-i", str(data), "-o", str(out)]
    command += ["--overwrite", "--cache", str(tmp_path / "cache.db")]
    command += ["--backend", "openai_compat", "--base-url", url, "--model", "same-name"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return {r["id"]: r["label"] for r in map(json.loads, out.read_text().splitlines())}


def test_a_second_server_is_not_answered_from_the_first_ones_cache(tmp_path: Path) -> None:
    with StubServer() as first, StubServer(negative) as second:
        assert labels(first.url, tmp_path) == {"a": "positive", "b": "positive"}
        assert labels(second.url, tmp_path) == {"a": "negative", "b": "negative"}
        assert second.calls == 2
        assert labels(first.url, tmp_path) == {"a": "positive", "b": "positive"}
        assert first.calls == 2  # the rerun was answered from the cache
