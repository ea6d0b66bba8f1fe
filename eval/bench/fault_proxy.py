"""A fault-injecting HTTP proxy on 127.0.0.1 in front of an OpenAI-compatible endpoint.

Every ``POST .../chat/completions`` is either forwarded to the upstream or answered with a
fault, at the configured rate. The choice is seeded and depends only on the request body and
how many times that body was seen before, so a rerun injects the same faults into the same
requests whatever order they arrive in. Faults (equally likely unless ``--kinds`` says):

- ``429``: HTTP 429 with ``Retry-After`` (and ``retry-after-ms``, as OpenAI sends)
- ``500``, ``503``: HTTP errors with a JSON error body
- ``reset``: the connection is reset (TCP RST) before any answer
- ``stall``: no answer until the client gives up (its timeout), then the connection closes
- ``truncate``: the upstream's answer cut off halfway (``Content-Length`` promises more)
- ``nonjson``: HTTP 200 whose body is not JSON: an HTML error page, or cut-off JSON sent as
  ``application/json`` with a matching ``Content-Length``
- ``schema``: HTTP 200, a well-formed chat completion whose answers break the label schema

``GET /stats`` (answered by the proxy itself) returns the counts of requests, forwards and
faults by kind. Upstream answers must carry ``Content-Length`` (no chunked streaming).

    python eval/bench/fault_proxy.py --upstream http://127.0.0.1:8000 --rate 0.2 --seed 0

From Python, ``with FaultProxy(upstream, rate=0.2) as proxy: ... proxy.url`` runs it in a
subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import socket
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlparse

HOST = "127.0.0.1"
KINDS = ("429", "500", "503", "reset", "stall", "truncate", "nonjson", "schema")
STALL_CAP = 120.0
"""Seconds a stalled request is held at most if the client never gives up."""
_BAD_ANSWERS = ('{"label": "definitely-not-a-label"}', "Sure! I think it is good.", '{"oops": 1}')
_MAX_HEADER = 64 * 1024


class Injector:
    """Decides, per request body, whether and how to fail it (seeded; see the module doc)."""

    def __init__(self, rate: float, kinds: tuple[str, ...] = KINDS, seed: int = 0):
        unknown = set(kinds) - set(KINDS)
        if unknown or not kinds:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; choose from {KINDS}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        self.rate, self.kinds, self.seed = rate, kinds, seed
        self._seen: Counter[bytes] = Counter()

    def choose(self, body: bytes) -> tuple[str | None, random.Random]:
        key = hashlib.blake2b(body, digest_size=16).digest()
        nth = self._seen[key]
        self._seen[key] += 1
        rng = random.Random(f"{self.seed}:{key.hex()}:{nth}")
        if rng.random() >= self.rate:
            return None, rng
        return rng.choice(self.kinds), rng


class _Proxy:
    def __init__(self, upstream: str, injector: Injector, retry_after: float):
        url = urlparse(upstream)
        self.host, self.port = url.hostname or HOST, url.port or 80
        self.injector = injector
        self.retry_after = retry_after
        self.stats: Counter[str] = Counter()

    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while (request := await _read_message(reader)) is not None:
                head, body = request
                method, path = head.split(b" ", 2)[:2]
                if method == b"GET" and path.rstrip(b"/").endswith(b"/stats"):
                    writer.write(_response(200, json.dumps(self.snapshot()).encode()))
                    await writer.drain()
                    continue
                self.stats["requests"] += 1
                kind, rng = self.injector.choose(body)
                if kind is not None:
                    self.stats[kind] += 1
                if kind in ("429", "500", "503", "nonjson"):
                    writer.write(self._error_answer(kind, rng))
                    await writer.drain()
                    continue
                if kind == "reset":
                    _reset(writer)
                    return
                if kind == "stall":
                    with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
                        await asyncio.wait_for(reader.read(), STALL_CAP)  # until the client quits
                    return
                upstream = upstream or await asyncio.open_connection(self.host, self.port)
                upstream[1].write(head + body)
                await upstream[1].drain()
                answer = await _read_message(upstream[0])
                if answer is None:
                    raise ConnectionError("upstream closed the connection")
                self.stats["forwarded"] += 1
                answer_head, answer_body = answer
                if kind == "truncate":
                    writer.write(answer_head + answer_body[: len(answer_body) // 2])
                    await writer.drain()
                    return
                if kind == "schema":
                    answer_body = _break_schema(answer_body, rng)
                    answer_head = _with_length(answer_head, len(answer_body))
                writer.write(answer_head + answer_body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            for w in (writer, *(upstream[1:] if upstream else ())):
                with contextlib.suppress(ConnectionError, RuntimeError):
                    w.close()

    def snapshot(self) -> dict[str, Any]:
        faults = {k: self.stats[k] for k in KINDS if self.stats[k]}
        return {
            "requests": self.stats["requests"],
            "forwarded": self.stats["forwarded"],
            "faults": faults,
            "faulted": sum(faults.values()),
        }

    def _error_answer(self, kind: str, rng: random.Random) -> bytes:
        if kind == "nonjson" and rng.random() < 0.5:
            html = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
            return _response(200, html, content_type="text/html")
        if kind == "nonjson":
            return _response(200, b'{"id": "chatcmpl-1", "choices": [{"index": 0, "mess')
        status = int(kind)
        error = {"error": {"message": f"injected HTTP {status}", "type": "injected", "code": None}}
        extra = ""
        if status == 429:
            ms = round(self.retry_after * 1000)
            extra = f"Retry-After: {max(1, round(self.retry_after))}\r\nretry-after-ms: {ms}\r\n"
        return _response(status, json.dumps(error).encode(), extra_headers=extra)


async def _read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """One HTTP/1.1 message (head with its blank line, body by Content-Length), or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length) if length else b""


def _break_schema(body: bytes, rng: random.Random) -> bytes:
    completion = json.loads(body)
    for choice in completion.get("choices", []):
        choice["message"]["content"] = rng.choice(_BAD_ANSWERS)
    return json.dumps(completion).encode()


def _with_length(head: bytes, length: int) -> bytes:
    lines = [
        line
        for line in head[:-4].split(b"\r\n")
        if line.split(b":", 1)[0].strip().lower() != b"content-length"
    ]
    return b"\r\n".join([*lines, b"Content-Length: %d" % length]) + b"\r\n\r\n"


def _response(
    status: int, body: bytes, content_type: str = "application/json", extra_headers: str = ""
) -> bytes:
    head = (
        f"HTTP/1.1 {status} Injected\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra_headers}Connection: keep-alive\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:  # linger 0: close() sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def serve(
    upstream: str, rate: float, kinds: tuple[str, ...], seed: int, retry_after: float, port: int
) -> None:
    proxy = _Proxy(upstream, Injector(rate, kinds, seed), retry_after)
    server = await asyncio.start_server(
        proxy.serve_connection, HOST, port, limit=_MAX_HEADER, backlog=512
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


class FaultProxy:
    """The proxy in a subprocess; ``url`` is its ``/v1`` base URL. A context manager."""

    def __init__(
        self,
        upstream: str,
        *,
        rate: float,
        kinds: tuple[str, ...] = KINDS,
        seed: int = 0,
        retry_after: float = 0.05,
    ) -> None:
        self._args = [
            "--upstream", upstream, "--rate", str(rate), "--kinds", ",".join(kinds),
            "--seed", str(seed), "--retry-after", str(retry_after),
        ]  # fmt: skip
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/stats", timeout=30) as answer:
            return dict(json.load(answer))

    def __enter__(self) -> FaultProxy:
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *self._args],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.isdigit():
            self.__exit__(None, None, None)
            raise RuntimeError(f"fault proxy did not start (said {line!r})")
        self.port = int(line)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="http://host:port of the endpoint")
    parser.add_argument("--rate", type=float, default=0.2, help="share of requests faulted")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated fault kinds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retry-after", type=float, default=0.05, help="seconds, for 429s")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    args = parser.parse_args()
    kinds = tuple(k for k in args.kinds.split(",") if k)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.upstream, args.rate, kinds, args.seed, args.retry_after, args.port))


if __name__ == "__main__":
    main()
