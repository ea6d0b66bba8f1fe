"""Any OpenAI-compatible chat server: vLLM, llama.cpp's server, hosted OpenAI.

``n`` samples are asked for in one request so the server prefills the prompt once. Servers that
cap ``n`` (llama.cpp: at its slot count, with HTTP 400) are split into smaller requests and the
cap is remembered in ``max_n``; servers that return fewer choices than asked are topped up with
extra requests under other seeds. Retries are the runner's (``llmlabel.runs.retrying``); this
backend only says which errors can pass (408/409/429/5xx, timeouts, dropped connections, bodies
that are not a chat completion) and how long the server asked to wait (``Retry-After``).

A label probe continues a prefilled answer (``continue_final_message``, which vLLM and llama.cpp
honour). Hosted OpenAI refuses the field with HTTP 400: the first refusal is said once (a
warning) and remembered, later probes fail here without a request, and label probabilities come
from each answer's own ``top_logprobs`` (labels that share their first tokens are then scored
only along the answer's path; ``llmlabel.runs.distribution``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Any, cast
from urllib.parse import urlparse

import httpx
import openai
from openai.types.chat import ChatCompletion

from llmlabel.core.request import Completion, LabelRequest, Message, Sample, TokenLogprob, Usage
from llmlabel.core.settings import BackendSpec
from llmlabel.errors import BackendError, ConfigError, ContextError, hide_secret

# n per request when the task does not say: small enough for most servers (OpenAI allows 128,
# vLLM has no fixed cap, llama.cpp allows its slot count and we learn that from its 400).
DEFAULT_MAX_N = 8
_RETRY_STATUS = {408, 409, 429}
_CONTEXT_CODES = {"context_length_exceeded", "exceed_context_size_error"}
_CONTEXT_TEXT = re.compile(r"context (length|size|window)|maximum context", re.I)
_N_PARAM = re.compile(r"['\"`]n['\"`]|\bn must\b|\bn should\b")
_log = logging.getLogger("llmlabel")


class OpenAICompatBackend:
    """``complete()`` against ``spec.base_url`` (a ``/v1`` URL) with model ``spec.model``."""

    name = "openai_compat"

    def __init__(self, spec: BackendSpec) -> None:
        if not spec.base_url:
            raise ConfigError(
                "the openai_compat backend needs `base_url`",
                hint="e.g. http://127.0.0.1:8000/v1 (vLLM) or https://api.openai.com/v1",
            )
        self.model_id = spec.model
        self.max_n = spec.max_n or DEFAULT_MAX_N
        self._spec = spec
        self._url = spec.base_url.rstrip("/")
        self.identity = f"openai_compat:{self._url}:{spec.model}"  # cache keys: per server
        self._tokenizer: str | None = None
        """The server's tokenize dialect (``prompt_token_ids``), once found."""
        self._no_prefill: str | None = None
        """What the server said when it refused a prefilled probe, once it refused one."""
        key = os.environ.get(spec.api_key_env)
        hide_secret(key)  # a server may echo it back in an error body
        self._local = _is_local(self._url)
        if not key and not self._local:
            raise ConfigError(
                f"no API key for {self._url}: ${spec.api_key_env} is not set",
                hint=f"export {spec.api_key_env}=<key> (or set backend.api_key_env)",
            )
        self._client = openai.AsyncOpenAI(
            base_url=self._url,
            api_key=key or "EMPTY",  # local servers started without --api-key accept any key
            timeout=spec.timeout,
            max_retries=0,
        )

    async def complete(self, request: LabelRequest) -> Completion:
        if request.prefill and self._no_prefill is not None:
            raise BackendError(self._no_prefill)
        samples: list[Sample] = []
        usage = Usage()
        while len(samples) < request.n:
            k = min(request.n - len(samples), self.max_n)
            try:
                response = await self._create(self._body(request, k, len(samples)))
            except _BadAnswer as exc:
                raise BackendError(
                    f"bad answer from {self._url}: {exc}",
                    hint="is base_url an OpenAI-compatible /v1 endpoint (no proxy in between)?",
                    retryable=True,
                ) from exc
            except openai.APIError as exc:
                cap = _n_cap(exc, k)
                if cap is None and request.prefill and _refused(exc):
                    raise self._refuse_prefill(exc) from exc
                if cap is None:
                    raise self._error(exc) from exc
                self.max_n = min(self.max_n, cap)
                continue
            if not response.choices:
                raise BackendError(f"{self._url} answered with no choices", retryable=False)
            for choice in sorted(response.choices, key=lambda c: c.index)[:k]:
                samples.append(
                    Sample(
                        text=choice.message.content or "",
                        finish_reason=choice.finish_reason,
                        logprob=_logprob(choice) if request.logprobs else None,
                        tokens=_tokens(choice) if request.top_logprobs else None,
                    )
                )
            if response.usage is not None:
                usage = usage + Usage(
                    prompt_tokens=response.usage.prompt_tokens,
                    completion_tokens=response.usage.completion_tokens,
                )
        return Completion(samples=tuple(samples), usage=usage, model=self.model_id)

    async def prompt_token_ids(self, messages: Sequence[Message]) -> list[int] | None:
        """The prompt's ids from the server's own tokenizer: vLLM's ``/tokenize`` (the chat
        template applied), else llama.cpp's ``/apply-template`` then ``/tokenize``; None for a
        server with neither (hosted APIs). Which one answered is remembered."""
        chat = [m.as_dict() for m in messages]
        for dialect in [self._tokenizer] if self._tokenizer else ["vllm", "llama.cpp"]:
            try:
                ids = await _server_token_ids(self._client, self._spec, dialect, chat)
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                continue
            self._tokenizer = dialect
            return ids
        self._tokenizer = "none"
        return None

    async def aclose(self) -> None:
        await self._client.close()

    def _sampler(self, request: LabelRequest) -> dict[str, float | int]:
        """``top_p`` always; ``top_k`` and ``min_p`` (vLLM, llama.cpp) only where the server is
        not a hosted API that refuses unknown parameters (``backend.sampler_extras``)."""
        chosen = request.sampler()
        extras = self._spec.sampler_extras
        if extras is None:
            extras = self._local
        return chosen if extras else {k: v for k, v in chosen.items() if k == "top_p"}

    def _body(self, request: LabelRequest, n: int, done: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": request.messages_as_dicts(),
            "n": n,
            "temperature": request.temperature,
            # vLLM and llama.cpp read max_tokens; only OpenAI's reasoning models refuse it.
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            # The server seeds choice i ``seed + i``: a top-up continues the numbering.
            body["seed"] = request.seed + done
        body.update(self._sampler(request))
        if request.logprobs:
            body["logprobs"] = True
            if request.top_logprobs:
                body["top_logprobs"] = request.top_logprobs
        if request.prefill:
            # llama.cpp continues a final assistant turn by itself; vLLM is told to. The
            # schema's grammar starts at ``{``, so a prefilled probe goes without it.
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
            return body
        schema = request.json_schema
        mode = self._spec.structured_output
        if mode == "json_schema":
            name = re.sub(r"[^A-Za-z0-9_-]", "_", request.schema_name)[:64] or "label"
            # Hosted OpenAI's strict mode accepts only standard keywords; llguidance's
            # `x-guidance` (JSON separators, kept for vLLM's dialects) stays out of it.
            strict = {k: v for k, v in schema.items() if k != "x-guidance"}
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": strict, "strict": True},
            }
        elif mode == "structured_outputs":
            # vLLM >= 0.10: ChatCompletionRequest.structured_outputs (StructuredOutputsParams).
            body["structured_outputs"] = {"json": schema}
        elif mode == "guided_json":
            # vLLM < 0.12 (removed there, per docs.vllm.ai features/structured_outputs).
            body["guided_json"] = schema
        return body

    async def _create(self, body: dict[str, Any]) -> ChatCompletion:
        # The body is already plain JSON: posting it directly skips the SDK's per-call walk of
        # the messages and JSON schema against its TypedDicts (about a quarter of the client's
        # CPU per request, eval/bench_overhead.py) while keeping its errors and response model.
        try:
            # The client's timeout bounds each read, so a server dripping one byte a second
            # never trips it; this bounds the whole attempt.
            response = await asyncio.wait_for(
                self._client.post("/chat/completions", cast_to=ChatCompletion, body=body),
                self._spec.timeout,
            )
        except asyncio.TimeoutError:
            raise _Deadline() from None
        except (ValueError, RecursionError) as exc:  # cut off, or nested past the stack
            raise _BadAnswer(f"the answer is not valid JSON: {exc}") from None
        if not isinstance(response, ChatCompletion):  # the SDK returns other bodies as-is
            raise _BadAnswer(f"the answer is not JSON: {str(response)[:60]!r}")
        return response

    def _error(self, exc: openai.APIError) -> BackendError:
        """The ``BackendError`` for a failed request: whether it can pass (``retryable``),
        how long the server asked to wait, and whether no later request can succeed either
        (``fatal``: after its retries, for a server that cannot be reached)."""
        env, url = self._spec.api_key_env, self._url
        if isinstance(exc, openai.APITimeoutError):
            return BackendError(
                f"request to {url} timed out after {self._spec.timeout:g}s",
                hint="raise backend.timeout, or lower max_tokens / concurrency",
                retryable=True,
            )
        if isinstance(exc, openai.APIConnectionError):
            return BackendError(
                f"cannot reach {url}",
                hint="is the server running? check --base-url / backend.base_url",
                retryable=True,
                fatal=True,
            )
        if not isinstance(exc, openai.APIStatusError):
            return BackendError(f"bad answer from {url}: {exc.message}", retryable=False)
        status, said = exc.status_code, _server_message(exc)
        if status in (401, 403):
            return BackendError(
                f"authentication failed at {url} (HTTP {status}): {said}",
                hint=f"check the API key in ${env} (or set backend.api_key_env)",
                fatal=True,
            )
        if status == 404:
            return BackendError(
                f"model '{self.model_id}' or route not found at {url}: {said}",
                hint=f"check the model name against GET {url}/models, and that base_url ends "
                "in /v1",
                fatal=True,
            )
        if status == 429 and exc.code == "insufficient_quota":
            return BackendError(f"quota exhausted at {url}: {said}", fatal=True)
        if status in _RETRY_STATUS or status >= 500:
            return BackendError(
                f"{url} kept failing (HTTP {status}): {said}",
                retryable=True,
                retry_after=_retry_after(exc),
            )
        if _about_context(exc):
            return ContextError(
                f"the prompt does not fit the model's context: {said}",
                hint="shorten the records or few-shot examples, lower max_tokens, or raise the "
                "server's context (llama.cpp --ctx-size, vLLM --max-model-len)",
            )
        mode = self._spec.structured_output
        return BackendError(
            f"{url} rejected the request (HTTP {status}): {said}",
            hint=f"does this server support structured_output '{mode}'?",
        )

    def _refuse_prefill(self, exc: openai.APIError) -> BackendError:
        """Remember (and say once) that this server does not continue a prefilled answer."""
        said = _server_message(exc)
        status = exc.status_code if isinstance(exc, openai.APIStatusError) else "?"
        if self._no_prefill is not None:  # concurrent probes: said once
            return BackendError(self._no_prefill)
        self._no_prefill = (
            f"{self._url} does not continue a prefilled answer (HTTP {status}: "
            f"{said}): label probabilities come from each answer's own top logprobs"
        )
        _log.warning(
            "%s refuses label probes (continue_final_message; HTTP %s: %s): label "
            "probabilities come from each answer's own top logprobs, so labels that share "
            "their first tokens are scored only along the answer's path",
            self._url,
            status,
            said,
        )
        return BackendError(self._no_prefill)


def _refused(exc: openai.APIError) -> bool:
    """A 400/422 that is not about the context: the server refused the request's fields."""
    if not isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return False
    return not _about_context(exc)


def _about_context(exc: openai.APIError) -> bool:
    """The server said the prompt does not fit the model's context."""
    said = _server_message(exc)
    return bool(
        exc.code in _CONTEXT_CODES or exc.type in _CONTEXT_CODES or _CONTEXT_TEXT.search(said)
    )


class _Deadline(openai.APITimeoutError):
    """An attempt ran past ``backend.timeout`` in all; reported (and retried) as any timeout."""

    def __init__(self) -> None:
        Exception.__init__(self, "Request timed out.")  # no httpx request to hand the SDK's
        self.message, self.body = "Request timed out.", None
        self.code = self.param = self.type = None


class _BadAnswer(Exception):
    """HTTP 200 whose body is not a chat completion: an HTML error page, cut-off JSON."""


def _retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``retry-after``), if any."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            pass
    return None


def _n_cap(exc: openai.APIError, asked: int) -> int | None:
    """A smaller ``n`` to retry with when the server rejected ``n`` itself, else None."""
    if asked <= 1 or not isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return None
    said = _server_message(exc)
    if exc.param != "n" and not _N_PARAM.search(said):
        return None
    bounds = re.findall(r"<=\s*(\d+)", said)  # llama.cpp: "1 <= value <= 2"; OpenAI: "<= 128"
    cap = int(bounds[-1]) if bounds else asked // 2
    return max(1, min(cap, asked - 1))


def _server_message(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return cast(str, body["message"])
    if isinstance(body, str) and body:
        return body
    return exc.message


def _logprob(choice: Any) -> float | None:
    content = choice.logprobs.content if choice.logprobs is not None else None
    if not content:
        return None
    return float(sum(token.logprob for token in content))


def _tokens(choice: Any) -> tuple[TokenLogprob, ...] | None:
    content = choice.logprobs.content if choice.logprobs is not None else None
    if not content:
        return None
    return tuple(
        TokenLogprob(
            text=t.token,
            logprob=float(t.logprob),
            top=tuple((a.token, float(a.logprob)) for a in (t.top_logprobs or ())),
        )
        for t in content
    )


async def _server_token_ids(
    client: openai.AsyncOpenAI, spec: BackendSpec, dialect: str, chat: list[dict[str, Any]]
) -> list[int]:
    """A server's ids for a chat prompt; ``dialect``: ``vllm`` or ``llama.cpp`` (their tokenize
    endpoints sit beside ``/v1``, not under it); anything else raises ``ValueError``."""
    root = str(client.base_url).rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {client.api_key}"}
    async with httpx.AsyncClient(base_url=root, headers=headers, timeout=spec.timeout) as http:
        if dialect == "vllm":
            body = {"model": spec.model, "messages": chat, "add_generation_prompt": True}
            reply = (await http.post("/tokenize", json=body)).raise_for_status().json()
        elif dialect == "llama.cpp":
            template = await http.post("/apply-template", json={"messages": chat})
            prompt = template.raise_for_status().json()["prompt"]
            body = {"content": prompt, "add_special": True, "parse_special": True}
            reply = (await http.post("/tokenize", json=body)).raise_for_status().json()
        else:
            raise ValueError(f"no tokenize endpoint known for {dialect!r}")
    ids = [int(t) for t in reply["tokens"]]
    if not ids or (dialect == "vllm" and reply["count"] != len(ids)):
        # llama.cpp answers a /tokenize body without "content" with no tokens
        raise ValueError(f"not a {dialect} tokenize answer")
    return ids


def _is_local(url: str) -> bool:
    """Loopback or private-network hosts, where servers usually run without API keys."""
    host = urlparse(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private
