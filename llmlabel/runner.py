"""Async orchestration: records in, one voted row per record out.

Bounded concurrency (``concurrency`` workers over a bounded queue, so input streams with flat
memory), samples split into rounds the backend can serve, every request looked up in the cache
first, invalid answers re-asked with the validation error, and every record ends as a row:
labeled, abstained (with the reason) or failed (with the error). Errors that no later record can
escape (bad input, a dead server, a bad API key) stop the run after in-flight records are
written, so nothing already labeled is lost and ``--resume`` continues.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from llmlabel.backends.base import Backend
from llmlabel.core.parse import parse_answer
from llmlabel.core.request import Completion, LabelRequest, Message, Usage
from llmlabel.errors import BackendError, InputError
from llmlabel.io.readers import InputRecord, check_fields
from llmlabel.task import PreparedTask

T = TypeVar("T")
REASK = "That answer was invalid: {error}. Reply again with only a JSON object of the form {form}."


class Cache(Protocol):
    enabled: bool

    def get(self, key: str) -> Completion | None: ...
    def put(self, key: str, completion: Completion) -> None: ...


class Sink(Protocol):
    done_ids: set[str]

    def write(self, row: dict[str, Any]) -> None: ...


@dataclass
class RunStats:
    records: int = 0
    labeled: int = 0
    abstained: int = 0
    failed: int = 0
    skipped: int = 0
    ties: int = 0
    requests: int = 0
    cache_hits: int = 0
    reasks: int = 0
    usage: Usage = field(default_factory=Usage)
    labels: Counter[str] = field(default_factory=Counter)
    confidence_sum: float = 0.0
    first_failure: str | None = None
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return self.labeled + self.abstained + self.failed

    @property
    def mean_confidence(self) -> float | None:
        return self.confidence_sum / self.labeled if self.labeled else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "labeled": self.labeled,
            "abstained": self.abstained,
            "failed": self.failed,
            "skipped_already_done": self.skipped,
            "ties": self.ties,
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "reasks": self.reasks,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "labels": dict(self.labels),
            "mean_confidence": self.mean_confidence,
            "seconds": round(self.seconds, 3),
        }


class Runner:
    def __init__(
        self,
        task: PreparedTask,
        backend: Backend,
        cache: Cache,
        sink: Sink,
        on_row: Callable[[RunStats], None] | None = None,
    ):
        self.task = task
        self.backend = backend
        self.cache = cache
        self.sink = sink
        self.on_row = on_row
        self.stats = RunStats()
        self._failure: BaseException | None = None
        self._provenance = {**task.provenance(), "model_id": backend.model_id}

    async def run(self, records: Iterable[InputRecord]) -> RunStats:
        queue: asyncio.Queue[InputRecord | None] = asyncio.Queue(self.task.spec.concurrency * 2)
        workers = [
            asyncio.create_task(self._worker(queue)) for _ in range(self.task.spec.concurrency)
        ]
        try:
            await self._feed(records, queue)
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
            self.stats.seconds = time.monotonic() - self.stats.started
        if self._failure is not None:
            raise self._failure
        return self.stats

    async def _feed(self, records: Iterable[InputRecord], queue: asyncio.Queue[Any]) -> None:
        seen: set[str] = set()
        for record in records:
            if self._failure is not None:
                return
            if record.id in seen:
                raise InputError(
                    f"duplicate id '{record.id}'",
                    where=record.where,
                    hint="ids must be unique (set `id_field:` in the task file)",
                )
            seen.add(record.id)
            self.stats.records += 1
            if record.id in self.sink.done_ids:
                self.stats.skipped += 1
                continue
            check_fields(record, self.task.spec.fields)
            await queue.put(record)

    async def _worker(self, queue: asyncio.Queue[InputRecord | None]) -> None:
        while (record := await queue.get()) is not None:
            if self._failure is not None:
                continue  # drain so the feeder never blocks; the first error wins
            try:
                row = await self.label(record)
            except BaseException as exc:  # the run stops; rows already written stay
                self._failure = self._failure or exc
                continue
            self.sink.write(row)
            self._count(row)

    async def label(self, record: InputRecord) -> dict[str, Any]:
        """Label one record; only fatal errors escape, everything else becomes the row."""
        messages, example_ids = self.task.messages_for(record.id, record.data)
        usage = Usage()
        try:
            completions = await _all(
                [self._complete(self.task.request(messages, n, r)) for r, n in self._rounds()]
            )
            samples = [s for c in completions for s in c.samples]
            texts = [s.text for s in samples]
            usage = sum((c.usage for c in completions), Usage())
            values, reasons, extra = await self._validate(messages, texts, record.data)
            usage = usage + extra
        except BackendError as exc:
            if exc.fatal:
                raise
            return self._row(record, example_ids, usage, error=exc.one_line())
        vote = self.task.kind.vote(values, self.task.labels, reasons)
        row = self._row(record, example_ids, usage)
        row.update(
            status="labeled" if vote.label is not None else "abstained",
            label=vote.label,
            confidence=round(vote.confidence, 6),
            votes=vote.counts,
            tie=vote.tie,
            reason=vote.abstain_reason,
            invalid=reasons,
        )
        if vote.label_confidence is not None:
            row["label_confidence"] = vote.label_confidence
        if self.task.spec.logprobs:
            row["logprobs"] = [s.logprob for s in samples]
        return row

    def _rounds(self) -> list[tuple[int, int]]:
        """(round, n) pairs covering ``samples`` with at most ``backend.max_n`` per request."""
        total, step = self.task.spec.samples, max(1, self.backend.max_n)
        return [(i, min(step, total - start)) for i, start in enumerate(range(0, total, step))]

    async def _complete(self, request: LabelRequest) -> Completion:
        if not self.cache.enabled:
            self.stats.requests += 1
            return await self.backend.complete(request)
        key = request.cache_key(self.backend.model_id)
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            return cached
        self.stats.requests += 1
        completion = await self.backend.complete(request)
        self.cache.put(key, completion)
        return completion

    async def _validate(
        self, messages: tuple[Message, ...], texts: list[str], data: Mapping[str, Any]
    ) -> tuple[list[Hashable | None], list[str], Usage]:
        """Each sample's vote value (``None`` if still invalid after re-asks) and the reasons."""
        results = await _all([self._settle(messages, t, i, data) for i, t in enumerate(texts)])
        values = [value for value, _, _ in results]
        reasons = [f"sample {i}: {why}" for i, (_, why, _) in enumerate(results) if why]
        return values, reasons, sum((u for _, _, u in results), Usage())

    async def _settle(
        self, messages: tuple[Message, ...], text: str, index: int, data: Mapping[str, Any]
    ) -> tuple[Hashable | None, str | None, Usage]:
        model, labels, field = self.task.answer_model, self.task.labels, self.task.kind.field
        parsed, usage = parse_answer(text, model, labels, field), Usage()
        for attempt in range(self.task.spec.retries.reask):
            if parsed.answer is not None:
                break
            self.stats.reasks += 1
            retry = (
                *messages,
                Message(role="assistant", content=text),
                Message(
                    role="user",
                    content=REASK.format(error=parsed.error, form=self.task.answer_format),
                ),
            )
            # A distinct round per (sample, attempt) keeps seeds and cache keys apart.
            round_ = 1000 + index * 100 + attempt
            completion = await self._complete(self.task.request(retry, 1, round_))
            usage = usage + completion.usage
            text = completion.samples[0].text
            parsed = parse_answer(text, model, labels, field)
        if parsed.answer is None:
            return None, parsed.error, usage
        return self.task.kind.value(parsed.answer, data), None, usage

    def _row(
        self,
        record: InputRecord,
        example_ids: list[str],
        usage: Usage,
        error: str | None = None,
    ) -> dict[str, Any]:
        return {
            "id": record.id,
            "status": "failed",
            "label": None,
            "confidence": 0.0,
            "votes": {},
            "tie": False,
            "reason": None,
            "error": error,
            "invalid": [],
            "examples": example_ids,
            "usage": usage.model_dump(),
            "provenance": self._provenance,
        }

    def _count(self, row: dict[str, Any]) -> None:
        stats = self.stats
        stats.usage = stats.usage + Usage(**row["usage"])
        if row["status"] == "labeled":
            stats.labeled += 1
            label = row["label"]
            stats.labels.update(label if isinstance(label, list) else [label])
            stats.confidence_sum += row["confidence"]
            stats.ties += int(row["tie"])
        elif row["status"] == "abstained":
            stats.abstained += 1
        else:
            stats.failed += 1
            stats.first_failure = stats.first_failure or f"record {row['id']}: {row['error']}"
        if self.on_row is not None:
            self.on_row(stats)


async def _all(awaitables: list[Awaitable[T]]) -> list[T]:
    """``asyncio.gather``, minus the task it would wrap a lone awaitable in (the common case:
    one round of requests, one sample to validate); a task per record is measurable overhead."""
    if len(awaitables) == 1:
        return [await awaitables[0]]
    return list(await asyncio.gather(*awaitables))
