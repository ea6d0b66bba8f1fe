"""Offline batch engines (transformers, vLLM) behind the one ``Backend`` port.

The runner asks for one ``LabelRequest`` per record and keeps ``concurrency`` records in flight.
``BatchBackend.complete`` queues each request; a single drain task takes everything pending (up
to ``batch_size`` sequences, one per sample), hands it to the engine on a worker thread in one
call and answers every request from the results. While the engine works, the runner's other
workers queue their next requests, so batches fill by themselves: every record in flight joins
the next engine call. A batch therefore holds at most ``concurrency`` records; set
``concurrency`` to about ``batch_size / samples`` to keep the engine full.

Everything but the engine call is shared here: the chat template (the engine's Hugging Face
tokenizer renders the messages to token ids), the context check (a record too long for the model
fails alone, not its batch), and usage (the prompt once per request, as the ``n`` samples share
it; the completion tokens of every sample, stop token included). An engine implements only
``generate``: token ids, ``n``, seed, temperature, the sampler's truncation, ``max_tokens`` and
the JSON schema of each request in, ``n`` schema-constrained samples per request out, each with
its tokens' logprobs and top alternatives when asked (``top_logprobs``).

A ``prefill`` request (a probe of the label distribution) is rendered as the chat prompt followed
by the prefill text, tokenized together as a server would; its last ``prefill_tokens`` prompt
ids are the prefill, and the engine continues them without the schema's grammar (which starts
at ``{``).

``backend.timeout`` does not apply: a local engine call cannot be abandoned half way. An engine
failure (out of memory, a CUDA error) stops the run; rows already written stay for ``--resume``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from llmlabel.backends.tokens import chat_token_ids, prompt_token_ids
from llmlabel.core.request import Completion, LabelRequest, Message, Sample, TokenLogprob, Usage
from llmlabel.errors import BackendError, ContextError, LLMLabelError

__all__ = [
    "BatchBackend",
    "BatchEngine",
    "EngineRequest",
    "Generated",
    "model_id_for",
    "sample_seeds",
]

# Loop turns a drain waits for requests still on their way (workers wake one turn apart).
_SETTLE_TURNS = 16
_WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".gguf"}
_EDGE = 1 << 20


@dataclass(frozen=True)
class EngineRequest:
    """One request as an engine sees it: the rendered prompt and the sampling settings.

    ``top_logprobs``: alternatives to report per generated token (0: no per-token report).
    ``top_p`` / ``top_k`` / ``min_p``: the sampler's truncation at ``temperature`` > 0 (``None``:
    none). ``prefill_tokens``: how many of the last prompt ids are a prefilled answer start, to
    be continued without the grammar (0: a plain request).
    """

    prompt_ids: tuple[int, ...]
    n: int
    temperature: float
    seed: int
    max_tokens: int
    json_schema: dict[str, Any]
    logprobs: bool
    top_logprobs: int = 0
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    prefill_tokens: int = 0


@dataclass(frozen=True)
class Generated:
    """One sample: its text, its token count (stop token included), why it ended, the sum of
    its tokens' log-probabilities under the model (before the grammar) when asked for, and with
    ``top_logprobs`` each token's text, logprob and alternatives (their texts spell ``text``)."""

    text: str
    tokens: int
    finish_reason: str | None
    logprob: float | None = None
    token_logprobs: tuple[TokenLogprob, ...] | None = None


class BatchEngine(Protocol):
    """A model that answers many requests in one call.

    ``tokenizer`` is the model's Hugging Face tokenizer (its chat template renders prompts);
    ``max_context`` the most tokens a sequence may hold (prompt and answer), if known.
    ``generate`` returns exactly ``request.n`` samples per request, in order.
    """

    name: str
    model_id: str
    max_context: int | None
    tokenizer: Any

    def generate(self, requests: Sequence[EngineRequest]) -> list[list[Generated]]: ...

    def close(self) -> None: ...


def sample_seeds(seed: int, n: int) -> list[int]:
    """One seed per sample of a request, ``seed + j`` as llama.cpp and vLLM servers seed their
    choices: a record's requests are seeded by their first sample, so no two samples share."""
    return [seed + j for j in range(n)]


@dataclass
class _Pending:
    request: LabelRequest
    future: asyncio.Future[Completion]


class BatchBackend:
    """The ``Backend`` port over a ``BatchEngine``: concurrent requests become one engine call.

    ``batch_size`` caps the sequences (samples) per call; ``max_n`` (at most ``batch_size``)
    caps one request's samples, so the runner splits larger counts into rounds.
    """

    def __init__(self, engine: BatchEngine, *, batch_size: int, max_n: int | None = None) -> None:
        self.engine = engine
        self.name = engine.name
        self.model_id = engine.model_id
        self.batch_size = batch_size
        self.max_n = min(max_n or batch_size, batch_size)
        self._pending: list[_Pending] = []
        self._drainer: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"llmlabel-{engine.name}")
        self._broken: Exception | None = None
        self._closed = False

    async def complete(self, request: LabelRequest) -> Completion:
        if self._closed:
            raise BackendError(f"the {self.name} backend is closed", where=self.model_id)
        if request.n > self.max_n:
            raise BackendError(
                f"{request.n} samples asked in one request; this backend serves at most "
                f"{self.max_n}",
                where=self.model_id,
                hint="split the samples into rounds of backend.max_n, or raise backend.batch_size",
            )
        loop = asyncio.get_running_loop()
        pending = _Pending(request, loop.create_future())
        self._pending.append(pending)
        if self._drainer is None or self._drainer.done() or self._drainer.get_loop() is not loop:
            self._drainer = loop.create_task(self._drain())
        return await pending.future

    async def prompt_token_ids(self, messages: Sequence[Message]) -> list[int] | None:
        """The prompt's ids as ``complete`` builds them (the model's chat template)."""
        return chat_token_ids(self.engine.tokenizer, messages)

    async def aclose(self) -> None:
        """Wait for the engine call in progress, then free the model."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self.engine.close()

    def __repr__(self) -> str:
        return f"BatchBackend({self.name!r}, {self.model_id!r}, batch_size={self.batch_size})"

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            await self._gather_arrivals()
            batch = self._take()
            results: list[Completion | Exception]
            try:
                if self._broken is not None:
                    raise self._broken
                results = list(
                    await loop.run_in_executor(
                        self._executor, self._run, [p.request for p in batch]
                    )
                )
            except Exception as exc:  # fatal: no later batch can do better
                self._broken = exc
                results = [exc] * len(batch)
            for pending, result in zip(batch, results, strict=True):
                if pending.future.done():  # its worker was cancelled
                    continue
                if isinstance(result, BaseException):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)

    async def _gather_arrivals(self) -> None:
        """Let requests that are on their way join: yield until no new one arrives."""
        for _ in range(_SETTLE_TURNS):
            before = len(self._pending)
            if sum(p.request.n for p in self._pending) >= self.batch_size:
                return
            await asyncio.sleep(0)
            if len(self._pending) == before:
                return

    def _take(self) -> list[_Pending]:
        """The oldest pending requests whose samples fit in one batch (at least one)."""
        rows, count = 0, 0
        for pending in self._pending:
            if count and rows + pending.request.n > self.batch_size:
                break
            rows += pending.request.n
            count += 1
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    def _run(self, requests: list[LabelRequest]) -> list[Completion | LLMLabelError]:
        """One engine call for the requests that fit the context; the others get their error.
        Runs on the worker thread."""
        results: list[Completion | LLMLabelError | None] = [None] * len(requests)
        jobs: list[tuple[int, EngineRequest]] = []
        for i, request in enumerate(requests):
            try:
                prompt, prefill = prompt_token_ids(
                    self.engine.tokenizer, request.messages, request.prefill
                )
            except Exception as exc:  # e.g. a template that refuses a system message
                raise BackendError(
                    f"the model's chat template failed: {type(exc).__name__}: {exc}",
                    where=self.model_id,
                    hint="use a template whose roles the model's chat template accepts",
                    fatal=True,
                ) from exc
            error = self._context_error(len(prompt), request.max_tokens)
            if error is not None:
                results[i] = error
                continue
            seed = request.seed if request.seed is not None else secrets.randbits(32)
            jobs.append(
                (
                    i,
                    EngineRequest(
                        prompt_ids=tuple(prompt),
                        n=request.n,
                        temperature=request.temperature,
                        seed=seed,
                        max_tokens=request.max_tokens,
                        json_schema=request.json_schema,
                        logprobs=request.logprobs,
                        top_logprobs=request.top_logprobs,
                        top_p=request.top_p,
                        top_k=request.top_k,
                        min_p=request.min_p,
                        prefill_tokens=prefill,
                    ),
                )
            )
        if jobs:
            try:
                outputs = self.engine.generate([job for _, job in jobs])
            except LLMLabelError:
                raise
            except Exception as exc:
                raise BackendError(
                    f"{self.name} generation failed: {type(exc).__name__}: {exc}",
                    where=self.model_id,
                    hint="lower backend.batch_size (or concurrency) if memory ran out",
                    fatal=True,
                ) from exc
            for (i, job), samples in zip(jobs, outputs, strict=True):
                results[i] = self._completion(job, samples)
        return [r for r in results if r is not None]

    def _context_error(self, prompt_tokens: int, max_tokens: int) -> ContextError | None:
        limit = self.engine.max_context
        if limit is None or prompt_tokens + max_tokens <= limit:
            return None
        return ContextError(
            f"the prompt has {prompt_tokens} tokens; with max_tokens {max_tokens} that is more "
            f"than the {limit}-token context",
            where=self.model_id,
            hint="shorten the record, instructions or examples, or lower max_tokens",
        )

    def _completion(self, job: EngineRequest, samples: list[Generated]) -> Completion:
        if len(samples) != job.n:
            raise BackendError(
                f"{self.name} returned {len(samples)} samples for a request of {job.n}",
                where=self.model_id,
                fatal=True,
            )
        return Completion(
            samples=tuple(
                Sample(
                    text=s.text,
                    finish_reason=s.finish_reason,
                    logprob=s.logprob,
                    tokens=s.token_logprobs if job.top_logprobs else None,
                )
                for s in samples
            ),
            usage=Usage(
                prompt_tokens=len(job.prompt_ids),
                completion_tokens=sum(s.tokens for s in samples),
            ),
            model=self.model_id,
        )


def model_id_for(model: str, revision: str | None = None) -> str:
    """``name@fingerprint`` of a local model folder, ``name@revision`` of a Hub model (when the
    loader reports one), else the name as given.

    The fingerprint hashes ``config.json`` and each weight file's name, size and first and last
    MiB: cheap for models of any size, and new whenever the folder holds other weights.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        digest = hashlib.sha256()
        for file in sorted(path.iterdir()):
            if file.name == "config.json" or file.suffix in _WEIGHT_SUFFIXES:
                digest.update(file.name.encode() + b"\0" + str(file.stat().st_size).encode())
                with file.open("rb") as fh:
                    digest.update(fh.read(_EDGE))
                    if file.stat().st_size > 2 * _EDGE:
                        fh.seek(-_EDGE, os.SEEK_END)
                        digest.update(fh.read(_EDGE))
        return f"{path.resolve().name}@{digest.hexdigest()[:12]}"
    return f"{model}@{revision[:12]}" if revision else model
