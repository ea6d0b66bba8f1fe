"""An instant OpenAI-compatible endpoint on 127.0.0.1, for overhead benchmarks.

``POST /v1/chat/completions`` answers at once with a valid answer to the request's JSON schema
(the first enum value of each property, so ``{"label": "<first label>"}`` for a classification
schema), ``n`` identical choices and ``usage`` filled in; ``GET /v1/models`` lists ``instant``.
It is a bare asyncio HTTP/1.1 keep-alive server (no framework, no threads) meant to run in its
own process, so that on a small machine it takes one core and the client under test the other.
``--latency-ms`` delays every chat answer (simulated model time; requests overlap as on a real
server); ``--text-answer`` is the answer to requests without a schema; ``GET /stats`` counts the
chat completions answered (the model calls a client made).

    python eval/instant_server.py --port 0        # prints the port it listens on, then serves

From Python, ``with InstantServer() as server: ... server.url`` starts it in a subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 411: "Length Required"}
_MAX_HEADER = 64 * 1024


def example_value(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A value valid for simple schemas: first enum/const value, first anyOf branch, etc."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        return example_value(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return example_value(schema[key][0], defs)
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example_value(sub, defs) for name, sub in props.items()}
    if kind == "array":
        return [
            example_value(schema.get("items", {}), defs) for _ in range(schema.get("minItems", 0))
        ]
    return {"string": "x", "integer": 0, "number": 0, "boolean": True, "null": None}.get(kind)


def request_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a chat body constrains to, in any of the three request shapes."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema")
    elif "structured_outputs" in body:
        schema = (body["structured_outputs"] or {}).get("json")
    else:
        schema = body.get("guided_json")
    return schema if isinstance(schema, dict) else None


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """A valid ``chat.completion`` for ``body``: ``n`` identical choices, usage filled in."""
    schema = request_schema(body)
    text = json.dumps(example_value(schema)) if schema else _State.text_answer
    n = int(body.get("n") or 1)
    message = {"role": "assistant", "content": text}
    choices = [
        {"index": i, "message": message, "finish_reason": "stop", "logprobs": None}
        for i in range(n)
    ]
    prompt = sum(len(m.get("content") or "") for m in body.get("messages", [])) // 4 + 1
    completion = (len(text) // 4 + 1) * n
    return {
        "id": "chatcmpl-instant",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "instant"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


class _State:
    latency = 0.0
    completions = 0
    text_answer = json.dumps({"label": "x"})


async def _route(method: str, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    path = path.split("?", 1)[0].rstrip("/")
    if method == "POST" and path == "/v1/chat/completions":
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            return 400, {"error": {"message": f"invalid JSON: {exc}", "type": "invalid_request"}}
        _State.completions += 1
        if _State.latency:
            await asyncio.sleep(_State.latency)
        return 200, answer(body)
    if method == "GET" and path == "/stats":
        return 200, {"chat_completions": _State.completions}
    if method == "GET" and path == "/v1/models":
        model = {"id": "instant", "object": "model", "owned_by": "instant"}
        return 200, {"object": "list", "data": [model]}
    return 404, {"error": {"message": f"no route {method} {path}", "type": "not_found"}}


def _response(status: int, payload: dict[str, Any], close: bool) -> bytes:
    blob = json.dumps(payload, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(blob)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode("latin-1") + blob


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, version = [*lines[0].split(" ", 2), "", ""][:3]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            if "chunked" in headers.get("transfer-encoding", "").lower():
                error = {"error": {"message": "chunked bodies are not supported"}}
                writer.write(_response(411, error, True))
                await writer.drain()
                return
            length = int(headers.get("content-length") or 0)
            raw = await reader.readexactly(length) if length else b""
            status, payload = await _route(method, path, raw)
            writer.write(_response(status, payload, close))
            await writer.drain()
            if close:
                return
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        with contextlib.suppress(ConnectionError):
            writer.close()


async def serve(
    port: int = 0, announce: bool = True, latency_ms: float = 0.0, text_answer: str | None = None
) -> None:
    """Serve until killed; print the bound port on stdout (one line) once listening."""
    _State.latency = latency_ms / 1000
    if text_answer is not None:
        _State.text_answer = text_answer
    server = await asyncio.start_server(
        _serve_connection, HOST, port, limit=_MAX_HEADER, backlog=512
    )
    bound = server.sockets[0].getsockname()[1]
    if announce:
        print(bound, flush=True)
    async with server:
        await server.serve_forever()


class InstantServer:
    """The server in a subprocess; ``url`` is its ``/v1`` base URL. A context manager."""

    def __init__(
        self, port: int = 0, latency_ms: float = 0.0, text_answer: str | None = None
    ) -> None:
        self._port = port
        self._latency_ms = latency_ms
        self._text_answer = text_answer
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> InstantServer:
        self._proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                *("--port", str(self._port), "--latency-ms", str(self._latency_ms)),
                *(() if self._text_answer is None else ("--text-answer", self._text_answer)),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"instant server did not start (said {line!r})")
        self.port = int(line)
        return self

    def completions(self) -> int:
        """Chat completions answered so far."""
        with urllib.request.urlopen(f"http://{HOST}:{self.port}/stats", timeout=10) as response:
            return int(json.load(response)["chat_completions"])

    def stop(self) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> InstantServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay per chat answer")
    parser.add_argument("--text-answer", help="the answer when a request has no JSON schema")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, latency_ms=args.latency_ms, text_answer=args.text_answer))


if __name__ == "__main__":
    main()
