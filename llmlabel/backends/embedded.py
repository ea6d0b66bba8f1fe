"""llama.cpp in process (xllamacpp): the zero-setup backend.

One ``xllamacpp.Server`` holds the model; its blocking ``handle_chat_completions`` (which
releases the GIL) runs on a private thread pool with one worker per slot, so the event loop
never waits on the model. ``llama_server.serve_http`` starts the same server on an HTTP port
for OpenAI-compatible clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from llmlabel import models
from llmlabel.backends.llama_server import _import_xllamacpp, _model_id, _start_server
from llmlabel.core.request import (
    Completion,
    LabelRequest,
    Message,
    Sample,
    TokenLogprob,
    Usage,
)
from llmlabel.core.schema import GUIDANCE
from llmlabel.core.settings import BackendSpec
from llmlabel.errors import BackendError, ContextError

__all__ = ["EmbeddedBackend"]


def _llama_token_ids(client: httpx.Client, messages: Sequence[Message]) -> list[int]:
    """A llama.cpp server's ids for a chat prompt (``client``: its root URL, no ``/v1``)."""
    chat = [m.as_dict() for m in messages]
    prompt = client.post("/apply-template", json={"messages": chat}).raise_for_status()
    body = {"content": prompt.json()["prompt"], "add_special": True, "parse_special": True}
    tokens = client.post("/tokenize", json=body).raise_for_status().json()["tokens"]
    return [int(t) for t in tokens]


def _compact_json_grammar(schema: dict[str, Any]) -> str | None:
    """An llguidance grammar for ``schema`` with fixed separators, or None if this build
    lacks llguidance.

    The plain schema grammar lets whitespace run anywhere between tokens; a small model at
    a high temperature can then fill ``max_tokens`` with newlines. Fixed separators remove
    that failure; they are the ones the prompt's examples show (``schema.GUIDANCE``, which
    the schema's own ``x-guidance`` overrides).
    """
    xlc = _import_xllamacpp()
    plain = str(xlc.json_schema_to_grammar(json.dumps(schema)))
    if not plain.startswith("%llguidance"):
        return None  # GBNF builds bound their whitespace rule already
    compact = dict(schema)
    compact["x-guidance"] = {
        "whitespace_flexible": False,
        **GUIDANCE,
        **schema.get("x-guidance", {}),
    }
    return "%llguidance {}\nstart: %json " + json.dumps(compact)


class EmbeddedBackend:
    """The ``Backend`` port over an in-process llama.cpp server.

    Usage is counted as the server reports it: the prompt once (the ``n`` samples share it)
    and the completion tokens of the samples together (summed from their token logprobs when
    asked for; otherwise the server's one-sample count times ``n``, an estimate).
    """

    name = "embedded"

    def __init__(self, spec: BackendSpec, *, progress: bool = True) -> None:
        _import_xllamacpp()
        self.spec = spec
        self.path = models.resolve(spec.model, progress=progress)
        self.model_id = _model_id(spec.model, self.path)
        self.max_n = min(spec.max_n or spec.parallel, spec.parallel)
        # Requests go in process; the port it must listen on is locked by a random key and
        # used only to count tokens (``prompt_token_ids``).
        self._key = secrets.token_urlsafe(24)
        self._server: Any = _start_server(self.path, spec, alias=self.model_id, api_key=self._key)
        self._http: httpx.Client | None = None
        # A round trip through llama.cpp's task queue: its loop is running from here on.
        # Freeing a server whose loop has not started yet can hang for ever (seen in 1 of
        # 3 create-then-close cycles; 0 of 15 with this wait).
        self._server.handle_metrics()
        self._executor = ThreadPoolExecutor(spec.parallel, thread_name_prefix="llmlabel-llama")
        self._grammars: dict[str, str | None] = {}
        self._slots: _Slots | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def complete(self, request: LabelRequest) -> Completion:
        if self._server is None:
            raise BackendError("the embedded backend is closed", where=self.model_id)
        if request.n > self.max_n:
            raise BackendError(
                f"{request.n} samples asked in one request; this backend serves at most "
                f"{self.max_n}",
                where=self.model_id,
                hint="split the samples into rounds of backend.max_n, or raise backend.parallel",
            )
        body = self._body(request)
        loop = asyncio.get_running_loop()
        slots = self._slots_of(loop)
        await slots.take(request.n)
        future = loop.run_in_executor(self._executor, self._server.handle_chat_completions, body)
        # Held until llama.cpp is done with them, even past a timeout.
        future.add_done_callback(lambda _: slots.give(request.n))
        try:
            response = await asyncio.wait_for(asyncio.shield(future), self.spec.timeout)
        except asyncio.TimeoutError:
            raise BackendError(
                f"no answer within {self.spec.timeout:g} s",
                where=self.model_id,
                hint="raise backend.timeout, lower max_tokens, or use a smaller model",
            ) from None
        except ValueError as exc:  # xllamacpp raises on some malformed bodies
            raise BackendError(
                f"llama.cpp rejected the request: {exc}", where=self.model_id
            ) from exc
        return self._completion(request, response)

    def metrics(self) -> dict[str, float]:
        """llama.cpp's server counters, named without the ``llamacpp:`` prefix; e.g.
        ``prompt_tokens_total`` counts prompt tokens evaluated (reused cached ones excluded)
        and ``prompt_tokens_cached_total`` those taken from the prompt cache."""
        if self._server is None:
            raise BackendError("the embedded backend is closed", where=self.model_id)
        return _parse_metrics(str(self._server.handle_metrics()))

    async def prompt_token_ids(self, messages: Sequence[Message]) -> list[int] | None:
        """The prompt's ids as llama.cpp counts them: its chat template (``/apply-template``),
        then its tokenizer (``/tokenize``), asked over the server's loopback port."""
        if self._server is None:
            raise BackendError("the embedded backend is closed", where=self.model_id)
        if self._http is None:
            address = str(self._server.listening_address).rstrip("/")
            headers = {"Authorization": f"Bearer {self._key}"}
            self._http = httpx.Client(base_url=address, headers=headers, timeout=60)
        return await asyncio.to_thread(_llama_token_ids, self._http, messages)

    async def aclose(self) -> None:
        """Wait for running calls, then free the model."""
        if self._server is None:
            return
        if self._http is not None:
            self._http.close()
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self._server = None  # the Server frees llama.cpp's memory when collected

    def __repr__(self) -> str:
        return f"EmbeddedBackend({self.model_id!r}, path={str(self.path)!r})"

    def _slots_of(self, loop: asyncio.AbstractEventLoop) -> _Slots:
        # One per event loop: api calls may each run their own asyncio.run().
        if self._slots is None or self._loop is not loop:
            self._slots, self._loop = _Slots(self.spec.parallel), loop
        return self._slots

    def _grammar(self, request: LabelRequest) -> str | None:
        key = json.dumps(request.json_schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = _compact_json_grammar(request.json_schema)
        return self._grammars[key]

    def _body(self, request: LabelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": request.messages_as_dicts(),
            "n": request.n,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            **request.sampler(),
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.logprobs:
            body["logprobs"] = True
            # 0 drops the logprobs; the default sends 20 per token
            body["top_logprobs"] = request.top_logprobs or 1
        if request.prefill:  # llama.cpp continues a final assistant turn; no grammar for it
            return body
        grammar = self._grammar(request)
        if grammar is not None:
            body["grammar"] = grammar
        else:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "schema": request.json_schema,
                    "strict": True,
                },
            }
        return body

    def _completion(self, request: LabelRequest, response: dict[str, Any]) -> Completion:
        if "error" in response:
            raise _error(response["error"], self.model_id)
        choices = sorted(response.get("choices") or [], key=lambda c: int(c.get("index", 0)))
        if len(choices) != request.n:
            raise BackendError(
                f"asked for {request.n} samples, got {len(choices)}",
                where=self.model_id,
                retryable=True,
            )
        samples = tuple(
            _sample(choice, request.logprobs, request.top_logprobs > 0) for choice in choices
        )
        usage = response.get("usage") or {}
        counted = [_token_count(choice) for choice in choices]
        completion_tokens = (
            sum(c for c in counted if c is not None)
            if all(c is not None for c in counted)
            else int(usage.get("completion_tokens", 0)) * request.n
        )
        return Completion(
            samples=samples,
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=completion_tokens,
            ),
            model=self.model_id,
        )


class _Slots:
    """llama.cpp's slots, counted per sample, taken first come first served.

    A request for ``n`` samples runs in ``n`` slots. One that starts with fewer free holds those
    and waits inside llama.cpp for the rest, so concurrent multi-sample requests counted as one
    each deadlock until they time out (measured: 4 requests of 4 samples on 4 slots).
    """

    def __init__(self, total: int) -> None:
        self.free = total
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def take(self, n: int) -> None:
        if not self._waiting and self.free >= n:
            self.free -= n
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((n, waiter))
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give(n)  # granted just as the caller was cancelled
            else:
                with contextlib.suppress(ValueError):
                    self._waiting.remove((n, waiter))
                self.give(0)  # the ones behind it may fit now
            raise

    def give(self, n: int) -> None:
        self.free += n
        while self._waiting and self.free >= self._waiting[0][0]:
            need, waiter = self._waiting.popleft()
            if not waiter.done():
                self.free -= need
                waiter.set_result(None)


def _sample(choice: dict[str, Any], with_logprob: bool, with_tokens: bool = False) -> Sample:
    message = choice.get("message") or {}
    logprob = None
    content = (choice.get("logprobs") or {}).get("content") or []
    if with_logprob:
        logprob = float(sum(t["logprob"] for t in content)) if content else None
    return Sample(
        text=str(message.get("content") or ""),
        finish_reason=choice.get("finish_reason"),
        logprob=logprob,
        tokens=token_logprobs(content) if with_tokens and content else None,
    )


def token_logprobs(content: list[dict[str, Any]]) -> tuple[TokenLogprob, ...]:
    """OpenAI-style ``logprobs.content`` entries as ``TokenLogprob``s."""
    return tuple(
        TokenLogprob(
            text=str(t["token"]),
            logprob=float(t["logprob"]),
            top=tuple((str(a["token"]), float(a["logprob"])) for a in t.get("top_logprobs") or ()),
        )
        for t in content
    )


def _parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text (``name value`` lines, ``#`` comments) to a dict."""
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name and not name.startswith("#") and value:
            values[name.removeprefix("llamacpp:")] = float(value)
    return values


def _token_count(choice: dict[str, Any]) -> int | None:
    tokens = (choice.get("logprobs") or {}).get("content")
    return len(tokens) if tokens is not None else None


def _error(error: Any, where: str) -> BackendError:
    if not isinstance(error, dict):
        return BackendError(f"llama.cpp error: {error}", where=where)
    message = str(error.get("message", error))
    kind = error.get("type", "")
    if kind == "exceed_context_size_error":
        prompt, ctx = error.get("n_prompt_tokens"), error.get("n_ctx")
        return ContextError(
            f"the prompt has {prompt} tokens, more than the {ctx}-token context",
            where=where,
            hint="raise backend.n_ctx, or shorten the record, instructions or examples",
        )
    code = int(error.get("code", 500))
    # 5xx inside the process is a transient server state (e.g. a slot failed to decode);
    # 4xx means this request can never succeed as written.
    return BackendError(f"llama.cpp error {code}: {message}", where=where, retryable=code >= 500)
