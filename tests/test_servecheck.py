"""``llmlabel serve-check`` against a stub speaking vLLM's dialect and a real llama.cpp server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

from llmlabel import api
from llmlabel.commands.serve_check import N_PROBE
from tests.stub_server import Reply, StubServer, error


def _chat(text: str, n: int = 1) -> dict[str, Any]:
    choice = {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{**choice, "index": i} for i in range(n)],
    }


def _vllm(body: dict[str, Any]) -> Reply | None:
    """vLLM >= 0.12: `structured_outputs` and `response_format` constrain; `guided_json` (gone)
    and llama.cpp's top-level `json_schema` are unknown fields, ignored."""
    if "guided_json" in body or "json_schema" in body:
        return Reply(body=_chat("Hello there, how are you"))
    if body.get("continue_final_message"):  # goes on from the prefilled '{"probe_k7": "zq'
        return Reply(body=_chat('7x"}'))
    return None


def test_vllm_dialect_is_found_and_preferred() -> None:
    with StubServer(_vllm, models=["qwen"], model_card={"max_model_len": 8192}) as stub:
        report = api.serve_check(stub.url)
    assert report.model == "qwen" and report.models == ["qwen"]
    assert {d: p.ok for d, p in report.dialects.items()} == {
        "structured_outputs": True,
        "guided_json": False,
        "json_schema": True,
        "json_object": True,
        "llama_json_schema": False,
    }
    assert report.structured_output == "structured_outputs"
    assert report.context == "8192 tokens (max_model_len)"
    assert report.n is not None and report.n.ok and report.max_n is None
    assert report.logprobs is not None and report.logprobs.ok
    assert report.prefill is not None and report.prefill.ok, report.prefill
    assert report.prefill is not None and report.prefill.ok
    assert "structured_output: structured_outputs" in report.backend_yaml("OPENAI_API_KEY")
    assert "max_n" not in report.backend_yaml("OPENAI_API_KEY")


def test_a_server_that_ignores_every_dialect_and_caps_n() -> None:
    def script(body: dict[str, Any]) -> Reply:
        if body.get("n", 1) > 2:
            return error(400, "Field 'n': Value must be between 1 <= value <= 2, but got 8")
        return Reply(body=_chat("Sure! Here you go", body.get("n", 1)))

    with StubServer(script) as stub:
        report = api.serve_check(stub.url, model="other", api_key_env="MY_KEY")
    assert report.model == "other"
    assert not any(p.ok for p in report.dialects.values())
    assert report.structured_output == "none"
    assert report.max_n == 2 and report.n is not None and report.n.ok
    assert report.logprobs is not None and not report.logprobs.ok
    assert report.prefill is not None and not report.prefill.ok  # a new answer, not going on
    assert "Sure! Here" in report.prefill.detail
    assert report.context is None
    snippet = report.backend_yaml("MY_KEY")
    assert "max_n: 2" in snippet and "api_key_env: MY_KEY" in snippet


def test_a_server_that_returns_one_choice_for_n() -> None:
    with StubServer([], models=["m"]) as stub:
        stub.push(*[Reply() for _ in range(5)], Reply(choices=1))  # five dialects, then n
        report = api.serve_check(stub.url)
    assert report.n is not None and not report.n.ok
    assert report.max_n == 1 and f"n={N_PROBE}" in report.n.detail


def test_a_server_that_refuses_prefill() -> None:
    def hosted(body: dict[str, Any]) -> Reply | None:
        if "continue_final_message" in body:
            return error(400, "Unrecognized request argument supplied: continue_final_message")
        return None

    with StubServer(hosted) as stub:
        report = api.serve_check(stub.url)
    assert report.prefill is not None and not report.prefill.ok
    assert report.prefill.detail.startswith("HTTP 400: Unrecognized request argument")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmlabel", "serve-check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "160"},
    )


def test_unreachable_server_is_one_line_and_exit_2() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _run(f"http://127.0.0.1:{port}/v1")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach") and "hint:" in lines[0]


def test_real_llama_cpp_server(embedded_server_url: str) -> None:
    result = _run(embedded_server_url)
    assert result.returncode == 0, result.stderr
    assert "llmlabel will use: structured_output json_schema" in result.stdout
    assert "max_n: 3" in result.stdout  # the fixture's 3 slots
    assert "llama.cpp n_ctx" in result.stdout
    report = api.serve_check(embedded_server_url)
    assert report.dialects["json_schema"].ok and not report.dialects["guided_json"].ok
    assert report.logprobs is not None and report.logprobs.ok
    assert report.prefill is not None and report.prefill.ok, report.prefill
