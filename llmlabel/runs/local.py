"""Async orchestration: records in, one voted row per record out.

Bounded concurrency (``concurrency`` workers over a bounded queue, so input streams with flat
memory), samples split into rounds the backend can serve, every request looked up in the cache
first, invalid answers re-asked with the validation error, and every record ends as a row:
labeled, abstained (with the reason) or failed (with the error). Errors that no later record can
escape (bad input, a dead server, a bad API key) stop the run after in-flight records are
written, so nothing already labeled is lost and ``--resume`` continues.

The runner keeps the orchestration; records are fed to its queue by ``runs.feeding``, a row's
fields are filled in by ``runs.rows``, and label distributions come from ``runs.distribution``.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Container, Hashable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal, Protocol, TypeVar

from llmlabel.backends.base import Backend, cache_identity
from llmlabel.core import labelprobs
from llmlabel.core.adaptive import projected_share
from llmlabel.core.breaker import Breaker
from llmlabel.core.parse import cut_off, parse_answer
from llmlabel.core.request import Completion, LabelRequest, Message, Sample, Usage
from llmlabel.core.row import Row
from llmlabel.core.vote import Vote
from llmlabel.errors import BackendError, ContextError, InputError, mask
from llmlabel.io.readers import InputRecord, peek
from llmlabel.runs import describe, distribution, rows
from llmlabel.runs.distribution import Drawn, gather
from llmlabel.runs.feeding import feed
from llmlabel.runs.retrying import RetryPolicy
from llmlabel.runs.stats import RunStats, count_row, row_usage
from llmlabel.task import PreparedTask

T = TypeVar("T")
REASK = "That answer was invalid: {error}. Reply again with only a JSON object of the form {form}."
OnError = Literal["fail", "skip"]
SKIP_HINT = "or rerun with --on-error skip to label the other records"


class Cache(Protocol):
    enabled: bool

    def get(self, key: str) -> Completion | None: ...
    def put(self, key: str, completion: Completion) -> None: ...


class Sink(Protocol):
    @property
    def done_ids(self) -> Container[str]: ...

    done_where: set[str]
    """Where the id-less rows (unreadable lines, repeated ids) already written came from."""

    def write(self, row: dict[str, Any]) -> None: ...


class Runner:
    def __init__(
        self,
        task: PreparedTask,
        backend: Backend,
        cache: Cache,
        sink: Sink,
        on_row: Callable[[RunStats], None] | None = None,
        on_error: OnError = "fail",
        retry: RetryPolicy | None = None,
        first: Sequence[InputRecord] | None = None,
    ):
        self.task = task
        self.skip_bad = on_error == "skip"
        self.backend = backend
        self.cache = cache
        self.sink = sink
        self.on_row = on_row
        self.stats = RunStats()
        self._failure: BaseException | None = None
        self._provenance = {**task.provenance(), "model_id": backend.model_id}
        self._router = task.calibration.file.router() if task.calibration is not None else None
        self._prior_lock = asyncio.Lock()
        self._breaker = Breaker(task.spec.retries.stop_after)
        self._retry = retry or RetryPolicy.of(task.spec.retries)
        self._shortlists: dict[str, list[str]] = {}
        """Shortlists of records fed but not labeled yet, embedded a batch at a time."""
        self._whole: Runner | None = None
        """In a runner of a view (``viewing``): the runner of the whole task."""
        self._first: list[InputRecord] | None = None if first is None else list(first)
        """The first readable records of the input (``describe_labels``, ``bias_correction:
        pool``); None: the first of those ``run`` is given (a run split in batches, as on Ray,
        passes the whole input's)."""

    async def run(self, records: Iterable[InputRecord]) -> RunStats:
        spec = self.task.spec
        wanted = first_wanted(self.task)
        if wanted and self._first is None:  # for the label lines and the pool's label prior
            self._first, records = peek(records, wanted, spec.fields)
        if spec.describe_labels and self.stats.label_descriptions is None:
            self.task, self.stats.label_descriptions = await describe.described(
                self.task, self._complete, [r.data for r in self._first or []]
            )
        queue: asyncio.Queue[InputRecord | None] = asyncio.Queue(self.task.spec.concurrency * 2)
        workers = [
            asyncio.create_task(self._worker(queue)) for _ in range(self.task.spec.concurrency)
        ]
        try:
            await feed(
                records,
                queue,
                self.task,
                self.stats,
                self.sink.done_ids,
                self._shortlists,
                self._reject,
                lambda: self._failure is not None,
            )
        except asyncio.CancelledError:  # Ctrl-C: records not started yet are not labeled
            self._failure = self._failure or KeyboardInterrupt()
            raise
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
            self.stats.seconds = time.monotonic() - self.stats.started
        if self._failure is not None:
            raise self._failure
        return self.stats

    def _reject(self, record: InputRecord, row_id: str | None, error: InputError) -> None:
        """A record that cannot be labeled stops the run, or with ``on_error="skip"`` becomes a
        ``skipped`` row. A row has the record's id only if the id is its own (not for an
        unreadable line or a repeated id): its ``where`` keys it for ``--resume``."""
        if not self.skip_bad:
            hint = f"{error.hint}; {SKIP_HINT}" if error.hint else SKIP_HINT
            raise InputError(error.message, where=error.where, hint=hint)
        if row_id is None and record.where in self.sink.done_where:
            self.stats.skipped += 1  # skipped by the run this one resumes
            return
        fields = self._row(record, [], Usage(), error=error.one_line())
        fields.update(id=row_id, status="skipped", where=record.where)
        row = Row.model_validate(fields)
        self.sink.write(row.dump())
        self._count(row)

    async def _worker(self, queue: asyncio.Queue[InputRecord | None]) -> None:
        while (record := await queue.get()) is not None:
            if self._failure is not None:
                continue  # drain so the feeder never blocks; the first error wins
            try:
                row = await self.label(record)
                self.sink.write(row.dump())  # a failed write (disk full) stops the run the same way
            except BaseException as exc:  # the run stops; rows already written stay
                self._failure = self._failure or exc
                continue
            self._count(row)
            if self._breaker.trips(row.status, row.error):
                self._failure = self._failure or stopped(self._breaker.limit, str(row.error))

    async def label(self, record: InputRecord) -> Row:
        """Label one record; only fatal errors escape, everything else becomes the row.
        ``shortlist:`` tasks ask among the record's shortlist, and again among every label
        when the answer's confidence is below ``shortlist.fallback_below``."""
        settings = self.task.spec.shortlist
        if self.task.spec.vary_prompts and self.task.spec.samples > 1:
            return await self._varied(record)
        if self.task.shortlister is None or settings is None:
            return await self._label(record)
        shortlist = self._shortlists.pop(record.id, None)
        if shortlist is None:  # not fed by ``run``
            [shortlist] = self.task.shortlists([(record.id, record.data)])
        row = await self.viewing(self.task.narrowed(shortlist))._label(record)
        below = settings.fallback_below
        confidence = row.confidence if row.confidence_raw is None else row.confidence_raw
        narrower = len(shortlist) < len(self.task.labels)
        if below is None or row.status != "labeled" or confidence >= below or not narrower:
            return rows.with_shortlist(row, shortlist, self.task.labels)
        whole = await self._label(record)
        return rows.with_shortlist(whole, shortlist, self.task.labels, spent=row_usage(row))

    async def _varied(self, record: InputRecord) -> Row:
        """``vary_prompts``: the record labeled once per prompt variant (``PreparedTask.variant``:
        labels and few-shot examples in a seeded order, one greedy answer), so what the model
        favours for a label's place in the list does not repeat in every sample; the rows
        merged (``rows.merged_variants``: the mean distribution), then routed."""
        variants = [self.viewing(self.task.variant(i)) for i in range(self.task.spec.samples)]
        for variant in variants:
            variant._router = None
        data = rows.merged_variants(
            await gather([variant._label(record) for variant in variants]), self.task.labels
        )
        if self._router is not None and data["status"] == "labeled":
            self._router.apply(data)
        return Row.model_validate(data)

    def viewing(self, view: PreparedTask) -> Runner:
        """A runner of ``view``, a view of this task (a shortlist's ``narrowed``, a
        ``variant`` prompt): this one's backend, cache, stats and locks, shared."""
        if view is self.task:
            return self
        runner = copy.copy(self)
        runner.task, runner._whole = view, self
        return runner

    async def _label(self, record: InputRecord) -> Row:
        drawn = await self.draw(record)
        if isinstance(drawn, Row):
            return drawn
        values, reasons, samples = drawn.values, drawn.reasons, drawn.samples
        soft = distribution.item_probs(self.task, drawn) if self.task.scores_items else None
        if soft is not None and self.task.walks_lists:
            walked = await distribution.label_list(self.task, drawn, self._complete)
            if walked is not None:
                at, labels, probs = walked
                values[at], soft[at] = frozenset(labels), dict(probs)
        if soft is None:
            vote = self.task.kind.vote(values, self.task.labels, reasons)
        else:
            vote = self.task.kind.vote(values, self.task.labels, reasons, soft=soft)
        if self.task.spec.adaptive is not None and vote.label is not None:
            # A record stopped early gets the share expected over its whole budget.
            drawn_n, budget = len(samples), self.task.spec.samples
            label_confidence = vote.label_confidence
            if label_confidence is not None:
                label_confidence = {
                    k: round(projected_share(v, drawn_n, budget), 6)
                    for k, v in label_confidence.items()
                }
            vote = replace(
                vote,
                confidence=projected_share(vote.confidence, drawn_n, budget),
                label_confidence=label_confidence,
            )
        probs, method = await self._distribution(drawn, vote)
        if method != "vote" and vote.label is not None:
            best = labelprobs.argmax(probs, self.task.labels)
            tie = sum(p == probs[best] for p in probs.values()) > 1
            vote = replace(vote, label=best, confidence=probs[best], tie=tie)
        row = self._voted_row(record, drawn.examples, drawn.usage, vote, reasons)
        rows.add_confidence(row, self.task, vote, probs, method, soft, samples)
        if self._router is not None:
            self._router.apply(row)
        return Row.model_validate(row)

    async def draw(self, record: InputRecord) -> Drawn | Row:
        """The record's samples and their vote values, or the row it ends as without a vote
        (skipped: it cannot be labeled; failed: its requests failed)."""
        try:
            messages, example_ids = self.task.messages_for(record.id, record.data)
        except InputError as exc:  # a record's image cannot be read: bad input, not a failure
            if not self.skip_bad:
                hint = f"{exc.hint}; {SKIP_HINT}" if exc.hint else SKIP_HINT
                raise InputError(exc.message, where=exc.where, hint=hint) from None
            row = self._row(record, [], Usage(), error=exc.one_line())
            row.update(status="skipped", where=record.where)
            return Row.model_validate(row)
        drawn = Drawn(examples=example_ids, messages=messages)
        try:
            await self._sample(messages, record.data, drawn)
        except ContextError as exc:  # the record is too long: bad input, not a failure
            message = f"record '{record.id}' does not fit: {exc.message}"
            if not self.skip_bad:
                hint = f"{exc.hint or 'shorten it'}; {SKIP_HINT}"
                raise ContextError(message, where=record.where, hint=hint) from exc
            row = self._row(record, example_ids, drawn.usage, error=f"{record.where}: {message}")
            row.update(status="skipped", where=record.where)
            return Row.model_validate(row)
        except BackendError as exc:
            if exc.fatal:
                raise
            return Row.model_validate(
                self._row(record, example_ids, drawn.usage, error=exc.one_line())
            )
        return drawn

    async def _sample(
        self, messages: tuple[Message, ...], data: Mapping[str, Any], drawn: Drawn
    ) -> None:
        """Draw and validate samples into ``drawn``: all ``samples`` at once, or (adaptive) in
        rounds until the kind says the vote is settled. A request is numbered by its first sample,
        which seeds it (``PreparedTask.request``): every sample of a record has its own seed,
        and an adaptive run's requests are a prefix of a fixed run's with the same ``max_n``."""
        spec, settled = self.task.spec, self.task.kind.settled
        total, adaptive = spec.samples, spec.adaptive
        want = total if adaptive is None else min(total, adaptive.min)
        while want:
            rounds = self._rounds(want, first=len(drawn.samples))
            completions = await gather(
                [self._complete(self.task.request(messages, n, r)) for r, n in rounds]
            )
            new = [s for c in completions for s in c.samples]
            drawn.requests += len(rounds)
            drawn.usage = sum((c.usage for c in completions), drawn.usage)
            values, reasons, extra = await self._validate(
                messages, new, data, first=len(drawn.samples)
            )
            drawn.samples += new
            drawn.values += values
            drawn.reasons += reasons
            drawn.usage = drawn.usage + extra
            left = total - len(drawn.samples)
            if adaptive is None or settled is None or settled(drawn.values, left, adaptive.level):
                return
            want = min(left, adaptive.batch)

    async def _distribution(self, drawn: Drawn, vote: Vote) -> tuple[dict[str, float], str]:
        """The voted record's label distribution and its method (``distribution.of_vote``),
        debiased by the whole task's content-free prior."""
        whole = self._whole or self
        narrowed = self._whole is not None
        return await distribution.of_vote(
            self.task, drawn, vote, self._complete, whole._prior, narrowed=narrowed
        )

    async def _prior(self) -> dict[str, float]:
        """The label prior ``bias_correction`` divides out (``distribution.label_prior``): on
        content-free inputs or the first records, asked once per run, cached like any request,
        and written to the manifest's totals (``label_prior``)."""
        async with self._prior_lock:
            if self.stats.label_prior is None:
                first = self._first or []
                pool = [(r.id, r.data) for r in first[: distribution.POOL_RECORDS]]
                found = await distribution.label_prior(self.task, self._complete, pool)
                self.stats.label_prior = found
        return self.stats.label_prior

    def _rounds(self, samples: int, first: int = 0) -> list[tuple[int, int]]:
        """(first sample, n) pairs covering samples ``first .. first + samples - 1`` with at
        most ``backend.max_n`` per request."""
        step = max(1, self.backend.max_n)
        return [(first + start, min(step, samples - start)) for start in range(0, samples, step)]

    async def _complete(self, request: LabelRequest) -> Completion:
        """Every backend request goes through here: the cache, then the backend with the
        task's retries (``llmlabel.runs.retrying``; backends never retry themselves)."""
        if not self.cache.enabled:
            self.stats.requests += 1
            return _masked(await self._retry.call(lambda: self.backend.complete(request)))
        key = request.cache_key(cache_identity(self.backend))
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            return cached
        self.stats.requests += 1
        completion = _masked(await self._retry.call(lambda: self.backend.complete(request)))
        self.cache.put(key, completion)
        return completion

    async def _validate(
        self,
        messages: tuple[Message, ...],
        samples: list[Sample],
        data: Mapping[str, Any],
        first: int = 0,
    ) -> tuple[list[Hashable | None], list[str], Usage]:
        """Each sample's vote value (``None`` if still invalid after re-asks) and the reasons;
        samples are numbered from ``first``."""
        results = await gather(
            [self._settle(messages, s, first + i, data) for i, s in enumerate(samples)]
        )
        values = [value for value, _, _ in results]
        reasons = [f"sample {first + i}: {why}" for i, (_, why, _) in enumerate(results) if why]
        return values, reasons, sum((u for _, _, u in results), Usage())

    async def _settle(
        self, messages: tuple[Message, ...], sample: Sample, index: int, data: Mapping[str, Any]
    ) -> tuple[Hashable | None, str | None, Usage]:
        model, labels, field = self.task.answer_model, self.task.labels, self.task.kind.field
        text = sample.text
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
            round_ = reask_round(
                self.task.spec.samples, self.task.spec.retries.reask, index, attempt
            )
            completion = await self._complete(self.task.request(retry, 1, round_))
            usage = usage + completion.usage
            sample = completion.samples[0]
            text = sample.text
            parsed = parse_answer(text, model, labels, field)
        if parsed.answer is None and sample.finish_reason == "length":
            return None, cut_off(str(parsed.error), self.task.spec.max_tokens), usage
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
        """The fields of a failed row, for the caller to complete (``rows.failed_row``)."""
        keep = self.task.spec.keep_fields
        return rows.failed_row(
            record, example_ids, usage, self._provenance, self._router, keep, error
        )

    def _voted_row(
        self,
        record: InputRecord,
        example_ids: list[str],
        usage: Usage,
        vote: Vote,
        reasons: list[str],
    ) -> dict[str, Any]:
        """The row of a record whose samples were voted (labeled or abstained)."""
        return rows.voted(self._row(record, example_ids, usage), vote, reasons)

    def _count(self, row: Row) -> None:
        count_row(self.stats, row, label_totals=bool(self.task.labels))
        if self.on_row is not None:
            self.on_row(self.stats)


def first_wanted(task: PreparedTask) -> int:
    """How many of the input's first records the run reads before labeling: the label lines'
    (``describe_labels``) and the pool prior's (``bias_correction: pool``)."""
    spec = task.spec
    return max(describe.RECORDS * spec.describe_labels,
               distribution.POOL_RECORDS * (spec.bias_correction == "pool"))  # fmt: skip


def reask_round(samples: int, reasks: int, index: int, attempt: int) -> int:
    """The request number (and seed offset) of re-ask ``attempt`` of sample ``index``: past
    every sample's own (``0 .. samples - 1``), one apart per (sample, attempt), so no re-ask
    replays a sample or another re-ask."""
    return samples + index * reasks + attempt


def stopped(limit: int, error: str) -> BackendError:
    return BackendError(
        f"stopped after {limit} records in a row failed the same way: {error}",
        hint="rows written so far are kept; fix the cause and continue with --resume "
        "(retries.stop_after in the task file sets how many; 0: never stop)",
        fatal=True,
    )


def _masked(completion: Completion) -> Completion:
    """``completion`` with any API key a server echoed into an answer masked, before it is
    cached, shown or written."""
    texts = [mask(s.text) for s in completion.samples]
    if texts == [s.text for s in completion.samples]:
        return completion
    pairs = zip(completion.samples, texts, strict=True)
    samples = tuple(s.model_copy(update={"text": text}) for s, text in pairs)
    return completion.model_copy(update={"samples": samples})
