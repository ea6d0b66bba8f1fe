"""Secrets and terminal control characters in what llmlabel writes and prints, through the real
CLI against a server on 127.0.0.1 that echoes the request's Authorization header (and an
escape sequence) in its error bodies and answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

KEY = "sk-llmlabel-echo-0123456789abcdefSECRET"
ESC = "\x1b]0;pwned\x07\x1b[2J"
TASK = """\
name: secrets
labels: [positive, negative]
fields: [text]
samples: 1
concurrency: 1
retries: {attempts: 1, reask: 1, stop_after: 0}
"""


class Echo(BaseHTTPRequestHandler):
    """Answers every chat request with ``server.status`` and a body quoting the request's
    Authorization header (as an error message, or as the model's answer with status 200)."""

    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        said = f"denied {ESC} for Authorization: {self.headers.get('Authorization')}"
        said += f" (your key {KEY[:-1]}{KEY[-1]} is not valid; also Bearer other-token-42)"
        if self.server.status == 200:
            choice = {"index": 0, "message": {"role": "assistant", "content": said}}
            body: dict[str, Any] = {"id": "x", "object": "chat.completion", "created": 0}
            body |= {"model": "m", "choices": [{**choice, "finish_reason": "stop"}]}
        else:
            body = {"error": {"message": said, "type": "server_error", "code": None}}
        blob = json.dumps(body).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)


@pytest.fixture
def echo() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run(
    server: ThreadingHTTPServer, tmp_path: Path, status: int
) -> subprocess.CompletedProcess[str]:
    server.status = status  # type: ignore[attr-defined]
    task = tmp_path / "task.yaml"
    task.write_text(TASK, encoding="utf-8")
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n', encoding="utf-8")
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    command = [sys.executable, "-m", "llmlabel", "run", str(task), "-i", str(data)]
    command += ["-o", str(tmp_path / "out.jsonl"), "--cache", str(tmp_path / "cache.db")]
    command += ["--backend", "openai_compat", "--base-url", url, "--model", "m"]
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def assert_clean(result: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    for name, text in [("stderr", result.stderr), ("stdout", result.stdout)] + [
        (path.name, path.read_text(encoding="utf-8", errors="replace"))
        for path in tmp_path.iterdir()
        if path.suffix in (".jsonl", ".json", ".db")
    ]:
        assert KEY not in text and KEY[3:20] not in text, name
        # another bearer token is masked where llmlabel writes it, not in the cached answer
        assert "other-token-42" not in text or name == "cache.db", name
    assert "\x1b" not in result.stderr + result.stdout and "\x07" not in result.stderr


@pytest.mark.parametrize("status", [401, 500])
def test_an_echoed_api_key_is_masked_everywhere(
    echo: ThreadingHTTPServer, tmp_path: Path, status: int
) -> None:
    result = run(echo, tmp_path, status)
    assert result.returncode == 1, result.stderr
    assert "Bearer ***" in result.stderr and "\\x1b" in result.stderr, result.stderr
    assert_clean(result, tmp_path)
    if status == 500:  # failed rows carry the masked error
        rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert all("Bearer ***" in r["error"] for r in rows), rows


def test_an_answer_quoting_the_key_is_masked_in_the_rows(
    echo: ThreadingHTTPServer, tmp_path: Path
) -> None:
    result = run(echo, tmp_path, 200)
    assert result.returncode == 0, result.stderr
    assert_clean(result, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert all(r["status"] == "abstained" for r in rows) and "***" in rows[0]["invalid"][0]
