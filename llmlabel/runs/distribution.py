"""Label distributions from token logprobs: the label trie walked from the samples' own
alternatives (``llmlabel.core.labelprobs``), asking the backend only for the branch points they
do not cover; a voted record's distribution (vote shares, logprobs, or both; debiased by the
content-free prior); and per-item probabilities of list answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from llmlabel.core import labelprobs
from llmlabel.core.request import Completion, LabelRequest, Message, Sample, Usage
from llmlabel.core.schema import ITEM_SEPARATOR
from llmlabel.core.vote import Vote
from llmlabel.errors import BackendError
from llmlabel.task import PreparedTask

T = TypeVar("T")
Complete = Callable[[LabelRequest], Awaitable[Completion]]
"""How a request is sent: the runner's cache, then the backend with retries."""
POOL_RECORDS = 64
"""``bias_correction: pool``: how many of the first input records the label prior is the mean
over."""
PROBE_ROUNDS = 3
PROBES_PER_ROUND = 8
"""A label distribution asks for at most this many branch points per round (labels sharing
their first tokens); deeper or smaller branches are left out and the rest renormalised."""


@dataclass
class Drawn:
    """One record's samples so far, their vote values (``None``: invalid), the invalid ones'
    reasons, usage, and the few-shot examples shown."""

    examples: list[str] = field(default_factory=list)
    messages: tuple[Message, ...] = ()
    samples: list[Sample] = field(default_factory=list)
    values: list[Hashable | None] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    requests: int = 0


async def label_probs(task: PreparedTask, drawn: Drawn, complete: Complete) -> dict[str, float]:
    """Walk the label trie (``llmlabel.core.labelprobs``) from the samples' own token
    alternatives, asking the backend for the few branch points they do not cover."""
    paths = [sample.tokens for sample in drawn.samples if sample.tokens]
    nodes: dict[str, labelprobs.Alternatives] = dict(labelprobs.path_nodes(*paths))
    start: tuple[str, str] | None = None  # (text before the label, node to walk from)
    for tokens in paths:
        # The tokens, not the text: a server may strip a code fence from the text.
        text = "".join(token.text for token in tokens)
        at = labelprobs.value_start(text, task.kind.field)
        root = None if at is None else labelprobs.root_of(tokens, at)
        if start is None and at is not None and root is not None:
            start = (text[:at], root)
    if start is None:
        return {}
    prefix, root = start
    return await _walked(task, drawn, task.labels, (prefix, root), nodes, complete)


async def _walked(
    task: PreparedTask,
    drawn: Drawn,
    labels: list[str],
    start: tuple[str, str],
    nodes: dict[str, labelprobs.Alternatives],
    complete: Complete,
) -> dict[str, float]:
    """The distribution over ``labels`` of the value that starts after ``start``'s text
    (from its node), asking for the branch points ``nodes`` lacks (and adding them there)."""
    prefix, root = start
    for _ in range(PROBE_ROUNDS):
        walk = labelprobs.walk(labels, prefix, root, nodes)
        if not walk.missing:
            break
        missing = walk.missing[:PROBES_PER_ROUND]
        found = await gather([_probe(task, drawn, node, complete) for node in missing])
        nodes.update(zip(missing, found, strict=True))
    return labelprobs.walk(labels, prefix, root, nodes).probs


async def label_list(
    task: PreparedTask, drawn: Drawn, complete: Complete
) -> tuple[int, list[str], dict[str, float]] | None:
    """A list answer chosen label by label (``label_lists: walk``): at each position the
    label most probable there by the exact trie walk (among the labels not yet in the list),
    then one more item if the model's probability of going on beats closing the list there.

    Greedy token-by-token decoding takes the first token with the most mass, so labels that
    share it (``dis``appointment, ``dis``approval, ``dis``gust) win together even when none
    of them is the most probable label. Starts from the first valid sample with tokens; an
    empty answer stays empty. Returns that sample's index, the labels in order and each
    one's probability at its position; None when there is nothing to walk."""
    valid = [i for i, value in enumerate(drawn.values) if value is not None]
    found = next((i for i in valid if drawn.samples[i].tokens), None)
    tokens = None if found is None else drawn.samples[found].tokens
    if found is None or not tokens:
        return None
    text = "".join(token.text for token in tokens)
    at = labelprobs.value_start(text, task.kind.field)
    root = None if at is None else labelprobs.root_of(tokens, at)
    if at is None or root is None:
        return None
    nodes: dict[str, labelprobs.Alternatives] = dict(labelprobs.path_nodes(tokens))
    between = _separator(text, at)
    start, left = (text[:at], root), list(task.labels)
    chosen: dict[str, float] = {}
    while left:
        probs = await _walked(task, drawn, left, start, nodes, complete)
        if not probs:
            break
        best = labelprobs.argmax(probs, left)
        chosen[best] = probs[best]
        left.remove(best)
        after = start[0] + json.dumps(best, ensure_ascii=False)[1:-1]
        if not left or not await _goes_on(task, drawn, after, nodes, complete):
            break
        start = (after + between, after + between)
    return (found, list(chosen), chosen) if chosen else None


async def _goes_on(
    task: PreparedTask,
    drawn: Drawn,
    after: str,
    nodes: dict[str, labelprobs.Alternatives],
    complete: Complete,
) -> bool:
    """Whether the model more probably adds another item than closes the list right after
    the label ending at ``after`` (its closing quote not yet written)."""
    more, end, undecided = labelprobs.list_end(
        await _alternatives(task, drawn, after, nodes, complete), quoted=False
    )
    if undecided > max(more, end):  # mostly a lone quote: ask what comes after it
        then = await _alternatives(task, drawn, after + '"', nodes, complete)
        more_then, end_then, _ = labelprobs.list_end(then, quoted=True)
        if more_then + end_then > 0:
            share = undecided / (more_then + end_then)
            more, end = more + share * more_then, end + share * end_then
    return more > end


async def _alternatives(
    task: PreparedTask,
    drawn: Drawn,
    node: str,
    nodes: dict[str, labelprobs.Alternatives],
    complete: Complete,
) -> labelprobs.Alternatives:
    if node not in nodes:
        nodes[node] = await _probe(task, drawn, node, complete)
    return nodes[node]


def _separator(text: str, at: int) -> str:
    """What a list answer writes from one item's closing quote to the next one's opening
    quote: as in ``text`` (the item starting at ``at``) where it has a second item, else
    the schema's separator."""
    try:
        _, end = json.JSONDecoder().raw_decode(text, at - 1)
    except ValueError:
        end = -1
    if end > 0 and text[end:].lstrip().startswith(","):
        following = text.find('"', end)
        if following > 0:
            return text[end - 1 : following + 1]
    return '"' + ITEM_SEPARATOR + '"'


async def _probe(
    task: PreparedTask, drawn: Drawn, node: str, complete: Complete
) -> dict[str, float]:
    """The model's alternatives for the token after ``node`` (the answer so far)."""
    try:
        completion = await complete(task.request(drawn.messages, 1, 0, node))
    except BackendError as exc:
        if exc.fatal:
            raise
        return {}  # that branch's mass is left out
    drawn.usage = drawn.usage + completion.usage
    tokens = completion.samples[0].tokens
    if not tokens:
        return {}
    return {**dict(tokens[0].top), tokens[0].text: tokens[0].logprob}


async def of_vote(
    task: PreparedTask,
    drawn: Drawn,
    vote: Vote,
    complete: Complete,
    prior: Callable[[], Awaitable[dict[str, float]]],
    *,
    narrowed: bool,
) -> tuple[dict[str, float], str]:
    """The label distribution of a voted record and the method that gave it: the vote
    shares, or (``confidence: logprob | combined``) label probabilities from the token
    logprobs, alone or averaged with the shares. Kinds without one label per answer get
    ``{}``; a backend that gives no logprobs falls back to the vote, said in the row.
    ``prior``: the whole task's content-free prior, asked once (``bias_correction:
    content_free``), renormalised over the labels of a ``narrowed`` task (a shortlist)."""
    labels = task.labels
    if not labels or not task.kind.scores_labels or not vote.total:
        return {}, "vote"
    shares = {label: vote.counts.get(label, 0) / vote.total for label in labels}
    if not task.scores_labels or vote.label is None:
        return shares, "vote"
    probs = await label_probs(task, drawn, complete)
    if not probs:
        return shares, "vote"
    if task.spec.bias_correction != "none":
        bias = await prior()
        if narrowed:  # over the shortlist, renormalised
            kept = {label: bias.get(label, 0.0) for label in labels}
            total = sum(kept.values())
            bias = {label: p / total for label, p in kept.items()} if total else {}
        probs = labelprobs.debias(probs, bias)
    if task.spec.confidence == "combined":
        probs = labelprobs.mean([probs, shares], labels)
    return probs, task.spec.confidence


async def label_prior(
    task: PreparedTask, complete: Complete, pool: Sequence[tuple[str, Mapping[str, Any]]]
) -> dict[str, float]:
    """The label prior ``bias_correction`` divides out: the mean label distribution the model
    gives content-free inputs (``N/A``, ...; Zhao et al. 2021), or with ``pool`` the first
    records' (``pool``: id and data; batch calibration, Zhou et al. 2024). Uniform when none
    gives one."""
    if task.spec.bias_correction == "content_free":
        pool = [
            (f"content-free-{i}", dict.fromkeys(task.spec.fields, text))
            for i, text in enumerate(labelprobs.CONTENT_FREE)
        ]
    found = []
    for record_id, data in pool:
        messages, examples = task.messages_for(record_id, data)
        drawn = Drawn(examples=examples, messages=messages)
        try:
            completion = await complete(task.request(messages, 1, 0))
        except BackendError as exc:
            if exc.fatal:
                raise
            continue
        drawn.samples = list(completion.samples)
        found.append(await label_probs(task, drawn, complete))
    found = [f for f in found if f]
    labels = task.labels
    return labelprobs.mean(found, labels) or dict.fromkeys(labels, 1 / len(labels))


def item_probs(task: PreparedTask, drawn: Drawn) -> list[dict[Any, float] | None] | None:
    """Per valid sample, its items' probabilities from its tokens (and under ``None`` its
    empty answer's), for ``kind.vote(..., soft=...)``; ``combined`` halves the way to the
    vote's count of 1. None when a sample has no tokens (the backend gives no logprobs)."""
    kind, combined = task.kind, task.spec.confidence == "combined"
    assert kind.items is not None
    soft: list[dict[Any, float] | None] = []
    for sample, value in zip(drawn.samples, drawn.values, strict=True):
        if value is None:
            soft.append(None)
            continue
        if not sample.tokens:
            return None
        items = kind.items(value)
        probs = labelprobs.item_probs(sample.tokens, kind.field, items)
        if not items:
            empty = labelprobs.empty_probability(sample.tokens, kind.field)
            probs = {None: 1.0 if empty is None else empty}
        soft.append({k: (1 + p) / 2 if combined else p for k, p in probs.items()})
    return soft


async def gather(awaitables: list[Awaitable[T]]) -> list[T]:
    """``asyncio.gather``, minus the task it would wrap a lone awaitable in (the common case:
    one round of requests, one sample to validate); a task per record is measurable overhead."""
    if len(awaitables) == 1:
        return [await awaitables[0]]
    return list(await asyncio.gather(*awaitables))
