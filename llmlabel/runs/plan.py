"""See before you pay: the messages a run will send (``preview``) and what it will cost
(``plan``, behind ``--dry-run``), without asking a model for an answer.

Token counts come from the backend's own chat template and tokenizer where it has them
(``backends.base.Tokenizing``: the embedded llama.cpp, the transformers and vLLM engines, a
vLLM or llama.cpp server); otherwise they are estimated at four characters a token, and the
plan says which.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from llmlabel import models
from llmlabel.backends import make_backend
from llmlabel.backends.base import Backend, Tokenizing
from llmlabel.core import labelprobs
from llmlabel.core.request import Message
from llmlabel.io.readers import check_fields, read_records
from llmlabel.runs.committee import member_task
from llmlabel.runs.distribution import POOL_RECORDS, PROBE_ROUNDS, PROBES_PER_ROUND
from llmlabel.runs.labeling import TaskRef
from llmlabel.task import PreparedTask, for_input, load

CHARS_PER_TOKEN = 4
"""The estimate where the backend cannot count: rough, and different for every model."""
ESTIMATED = "estimate: 4 characters a token"
T = TypeVar("T")


@dataclass
class Plan:
    """The work a run will do. ``requests`` is exact for the answers (each record's samples in
    rounds of ``backend.max_n``; a committee's members each); ``requests_max`` adds every
    re-ask and label-probability probe the run may send, so the run makes between the two."""

    records: int
    requests: int
    requests_max: int
    samples_per_record: int
    prompt_tokens: int
    """Prompt tokens sent: each request carries its record's whole prompt."""
    prompt_tokens_uncached: int
    """Prompt tokens a prefix-caching server evaluates: each record's prompt less the start it
    shares with the record before (further rounds of a record are all cached)."""
    tokens_counted_by: str
    """The tokenizer that counted (``model's tokenizer (...)``) or ``ESTIMATED``."""
    task: PreparedTask
    notes: list[str] = field(default_factory=list)

    @property
    def completion_tokens_max(self) -> int:
        """Completion tokens if every sample used all of ``max_tokens`` (re-asks excluded)."""
        return self.records * self.samples_per_record * self.task.spec.max_tokens

    @property
    def tokens_exact(self) -> bool:
        return self.tokens_counted_by != ESTIMATED


@dataclass(frozen=True)
class Preview:
    """What one record's request carries: its messages (system, few-shot turns, the record),
    the ids of the examples shown, and ``prompt_tokens``, the whole prompt as the backend
    counts it (None: not counted; ``tokens`` then estimates each message)."""

    record_id: str
    messages: tuple[Message, ...]
    examples: list[str]
    prompt_tokens: int | None = None
    shortlist: list[str] | None = None
    """The labels the record is asked among (``shortlist:`` tasks)."""

    @property
    def tokens(self) -> list[int]:
        """Each message's tokens, estimated (characters / 4)."""
        return [max(1, len(m.content) // CHARS_PER_TOKEN) for m in self.messages]


def preview(
    task: TaskRef,
    input: str | Path,
    *,
    n: int = 3,
    overrides: Mapping[str, Any] | None = None,
    count_tokens: bool = False,
    backend: Backend | None = None,
) -> tuple[list[Preview], dict[str, Any]]:
    """The exact messages the first ``n`` records of ``input`` will be sent, and the JSON
    schema that constrains the answer; no answer is asked for. ``count_tokens``: count each
    prompt with the backend's tokenizer (``backend``, or the task's, started and closed here)."""
    prepared = for_input(load(task, overrides), input)
    records = _records(prepared, input, n)
    shown = [
        Preview(record_id, messages, examples, shortlist=shortlist)
        for (record_id, _), (messages, examples, shortlist) in zip(
            records, _prompts(prepared, records), strict=True
        )
    ]
    if count_tokens:
        counts, _ = _blocking(_count(prepared, [p.messages for p in shown], backend))
        if counts is not None:
            shown = [
                replace(p, prompt_tokens=len(ids)) for p, ids in zip(shown, counts, strict=True)
            ]
    return shown, prepared.schema


def plan(
    task: TaskRef,
    input: str | Path,
    *,
    limit: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    count_tokens: bool = False,
    backend: Backend | None = None,
) -> Plan:
    """Render every record (catching bad input before any spending) and count the work.

    ``count_tokens``: count prompts with the backend's own tokenizer (``backend``, or the
    task's, started and closed here; the embedded model only if it is downloaded already);
    where it cannot, the counts are estimated and ``notes`` says why."""
    prepared = for_input(load(task, overrides), input)
    spec = prepared.spec
    members = [member_task(spec, m) for m in spec.committee] or [spec]  # committee: each
    rounds = sum(-(-s.samples // max(1, s.backend.max_n or s.samples)) for s in members)
    if spec.vary_prompts:  # a request per variant prompt
        rounds = spec.samples
    prompts = [messages for messages, _, _ in _prompts(prepared, _records(prepared, input, limit))]
    notes = []
    if spec.samples > 1 and spec.effective_temperature == 0 and not spec.vary_prompts:
        notes.append("samples > 1 at temperature 0 will mostly repeat one answer")
    counted, why = _blocking(_count(prepared, prompts, backend)) if count_tokens else (None, "")
    if counted is not None:
        by, units = f"the model's tokenizer ({spec.backend.type} · {spec.backend.model})", 1
        sequences: Sequence[Sequence[Any]] = counted
    else:
        by, units, sequences = ESTIMATED, CHARS_PER_TOKEN, [_text(m) for m in prompts]
        if why:
            notes.append(f"token counts are estimated: {why}")
    total = sum(len(s) for s in sequences)
    befores = [[], *sequences[:-1]]
    fresh = sum(len(s) - _common_start(s, b) for b, s in zip(befores, sequences, strict=True))
    answers = len(prompts) * rounds
    return Plan(
        records=len(prompts),
        requests=answers,
        requests_max=answers + _extra_requests(prepared, len(prompts)),
        samples_per_record=spec.samples,
        prompt_tokens=rounds * total // units,
        prompt_tokens_uncached=fresh // units,
        tokens_counted_by=by,
        task=prepared,
        notes=notes,
    )


def _records(
    prepared: PreparedTask, input: str | Path, limit: int | None
) -> list[tuple[str, Mapping[str, Any]]]:
    found: list[tuple[str, Mapping[str, Any]]] = []
    for record in read_records(input, id_field=prepared.spec.id_field, limit=limit):
        check_fields(record, prepared.spec.fields)
        found.append((record.id, record.data))
    return found


def _prompts(
    prepared: PreparedTask, records: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[tuple[tuple[Message, ...], list[str], list[str] | None]]:
    """Each record's messages, example ids and shortlist, as the run will make them: a
    ``shortlist:`` task asks each record among its own labels."""
    lists = prepared.shortlists(records)
    prompts = []
    for (record_id, data), labels in zip(records, lists, strict=True):
        messages, examples = prepared.narrowed(labels).messages_for(record_id, data)
        prompts.append((messages, examples, labels if prepared.shortlister else None))
    return prompts


async def _count(
    prepared: PreparedTask, prompts: Sequence[Sequence[Message]], backend: Backend | None
) -> tuple[list[list[int]] | None, str]:
    """Each prompt's token ids from the backend's tokenizer, or None and why not."""
    spec = prepared.spec.backend
    if backend is None and spec.type == "embedded":
        info = models.MODELS.get(spec.model)
        if info is not None and not models.is_cached(info):
            return None, f"{spec.model} is not downloaded yet (llmlabel models pull {spec.model})"
    own = backend is None
    active = make_backend(prepared.spec) if backend is None else backend
    try:
        if not isinstance(active, Tokenizing):
            return None, f"the {active.name} backend has no tokenizer to ask"
        counts = []
        for messages in prompts:
            ids = await active.prompt_token_ids(messages)
            if ids is None:
                return None, f"{spec.base_url or active.name} offers no tokenize endpoint"
            counts.append(ids)
        return counts, ""
    finally:
        if own:
            await active.aclose()


def _extra_requests(prepared: PreparedTask, records: int) -> int:
    """Requests a run may add to its answers: re-asks of invalid samples, the label trie's
    probes (a walked label list's at each of its positions), the label prior (content-free
    inputs, or the first records again) and the model-written label lines (one request)."""
    spec = prepared.spec
    # A probe asks for one branch point of the label trie: at most one per label but one.
    branches = min(PROBE_ROUNDS * PROBES_PER_ROUND, max(0, len(prepared.labels) - 1))
    probes = branches if prepared.scores_labels else 0
    if prepared.walks_lists:  # per label of the list: its branch points, then where it ends
        probes = len(prepared.labels) * (branches + 2)
    per_record = spec.samples * probes if spec.vary_prompts else probes  # each variant's own
    extra = records * (spec.samples * spec.retries.reask + per_record)
    if spec.bias_correction == "content_free":
        extra += len(labelprobs.CONTENT_FREE) * (1 + probes)
    elif spec.bias_correction == "pool":  # asked again for the prior (the cache answers)
        extra += min(POOL_RECORDS, records) * (1 + probes)
    return extra + int(spec.describe_labels)


def _blocking(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, on a worker thread where this one runs an event loop (a notebook)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def _text(messages: Sequence[Message]) -> str:
    """A prompt as text for the estimate: each message's role and content."""
    return "".join(f"{m.role}\n{m.content}\n" for m in messages)


def _common_start(a: Sequence[Any], b: Sequence[Any]) -> int:
    same = 0
    while same < min(len(a), len(b)) and a[same] == b[same]:
        same += 1
    return same
