"""Committees on kinds whose answer is a set of items: multi-label (labels) and NER (spans).

Each item is voted yes or no, with ``llmlabel.core.committee``'s rules applied item by item, so
one member alone gets exactly its own vote (``per_label_majority``, ``span_vote``). Rules:

- A member's vote on an item: ``p_m = {yes, no, INVALID}``, the shares of its samples that name
  the item, that are valid without it, and that are invalid (invalid samples take no side and
  lower confidence, as in the single-model vote). A labeling function has one answer. A Python
  function's is the whole answer: yes on what it returns, no on every other item. A keyword or
  regex rule names one label: yes on what it found, and no say on any other item. A rule that
  returns ``None`` abstains on the record.
- The consensus on an item is ``c = Σ w_m p_m / Σ w_m`` over the members voting on it. The item
  is kept when ``c[yes] > c[no]`` (the weighted share of valid yes votes is over one half);
  equal and non-zero is a tie: not kept, ``tie=True``. Its confidence is the consensus share of
  the decision (``c[yes]`` if kept, else ``c[no]``); the record's ``confidence`` is the weakest
  item decision (no item at all, an NER record where nobody found a span: the consensus share
  of valid answers).
- Items: multi-label, every label of the task; NER, every span ``(start, end, type)`` any member
  found. Kept spans that overlap: the larger consensus (then the longer, then the earlier) stays,
  the others are dropped and the vote is flagged ``tie`` (as in ``span_vote``).
- Disagreement per item as ``disagreement`` computes it (outcomes yes, no, ``INVALID``); the
  row's ``entropy`` is its mean over the items, ``kl[m]`` the mean over the items ``m`` voted on,
  and ``disagreement`` the mean over the items of their weighted mean KL (when every member votes
  on every item, the weighted mean of the members' ``kl``).
- No valid answer from any member: abstain with the reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from llmlabel.core.committee import (
    Ballot,
    CommitteeRules,
    Disagreement,
    LabelingFunction,
    Member,
    Merged,
    disagreement,
    no_valid_vote,
    regex_rule,
)
from llmlabel.core.spans import (
    Span,
    SpanAnswer,
    bio_tags,
    label_rank,
    recover,
    token_offsets,
    without_overlaps,
)
from llmlabel.core.vote import Vote, ordered

T = TypeVar("T", bound=Hashable)
YES, NO = "yes", "no"
_DIGITS = 12
"""Consensus shares are compared rounded, so float noise never decides or breaks a tie."""


@dataclass(frozen=True)
class SetMember(Generic[T]):
    """One voter on one record: ``answers`` its valid samples' item sets, ``invalid`` its samples
    without a valid answer; ``partial``: it votes only on the items it names."""

    name: str
    answers: tuple[frozenset[T], ...]
    invalid: int = 0
    weight: float = 1.0
    partial: bool = False

    @property
    def total(self) -> int:
        return len(self.answers) + self.invalid

    def on(self, item: T) -> Member | None:
        """The member's yes/no vote on ``item``; ``None`` when it has no say on it."""
        yes = sum(item in answer for answer in self.answers)
        if self.partial and not yes:
            return None
        return Member(self.name, {YES: yes, NO: len(self.answers) - yes}, self.invalid, self.weight)


@dataclass(frozen=True)
class Decision:
    """The consensus shares of yes and no on one item."""

    yes: float
    no: float

    @property
    def keep(self) -> bool:
        return round(self.yes, _DIGITS) > round(self.no, _DIGITS)

    @property
    def tie(self) -> bool:
        return self.yes > 0 and round(self.yes, _DIGITS) == round(self.no, _DIGITS)

    @property
    def confidence(self) -> float:
        return self.yes if self.keep else self.no


@dataclass(frozen=True)
class SetVote(Generic[T]):
    """Each item's decision and the record's disagreement (module docstring); ``valid``: the
    consensus share of valid answers."""

    decisions: dict[T, Decision]
    entropy: float
    kl: dict[str, float]
    disagreement: float
    valid: float


def set_vote(members: Sequence[SetMember[T]], items: Sequence[T]) -> SetVote[T]:
    """The committee's yes/no decision on every item of ``items``. Members without samples (they
    failed) take no part."""
    voting = [m for m in members if m.total and m.weight > 0]
    decisions: dict[T, Decision] = {}
    entropies: list[float] = []
    spreads: list[float] = []
    kls: dict[str, list[float]] = {m.name: [] for m in voting}
    for item in items:
        found = disagreement([vote for m in voting if (vote := m.on(item)) is not None])
        decisions[item] = Decision(found.consensus.get(YES, 0.0), found.consensus.get(NO, 0.0))
        entropies.append(found.entropy)
        spreads.append(found.disagreement)
        for name, kl in found.kl.items():
            kls[name].append(kl)
    weight = sum(m.weight for m in voting)
    valid = sum(m.weight * len(m.answers) / m.total for m in voting) / weight if voting else 0.0
    return SetVote(
        decisions, _mean(entropies), {k: _mean(v) for k, v in kls.items()}, _mean(spreads), valid
    )


def merge_labels(
    ballots: Sequence[Ballot], order: Sequence[str], reasons: Sequence[str] = ()
) -> Merged:
    """A multi-label committee's vote: one yes/no decision per label of the task."""
    members = [
        SetMember(
            b.name,
            tuple(cast(frozenset[str], v) for v in b.values if v is not None),
            b.invalid,
            b.weight,
            b.partial,
        )
        for b in ballots
    ]
    named = {m.name: Counter(label for answer in m.answers for label in answer) for m in members}
    counts = ordered(sum(named.values(), Counter()), order)
    votes = {name: ordered(c, order) for name, c in named.items()}
    total = sum(m.total for m in members)
    if not any(m.answers for m in members):
        return Merged(no_valid_vote(len(members), total, reasons), _NONE, votes)
    universe = list(dict.fromkeys([*order, *counts]))
    found = set_vote(members, universe)
    confidence = {label: d.confidence for label, d in found.decisions.items()}
    vote = Vote(
        label=[label for label in universe if found.decisions[label].keep],
        confidence=min(confidence.values(), default=found.valid),
        counts=counts,
        total=total,
        tie=any(d.tie for d in found.decisions.values()),
        label_confidence={label: round(share, 6) for label, share in confidence.items()},
    )
    return Merged(vote, _disagreement(found, str), votes)


def merge_spans(
    ballots: Sequence[Ballot], order: Sequence[str], reasons: Sequence[str] = ()
) -> Merged:
    """An NER committee's vote: one yes/no decision per span any member found."""
    answers = {b.name: [cast(SpanAnswer, v) for v in b.values if v is not None] for b in ballots}
    members = [
        SetMember(b.name, tuple(a.spans for a in answers[b.name]), b.invalid, b.weight, b.partial)
        for b in ballots
    ]
    counts = Counter(span for m in members for answer in m.answers for span in answer)
    ranked = sorted(counts, key=lambda s: (s.start, s.end, label_rank(s.label, order)))
    votes = {
        m.name: {s.key: n for s in ranked if (n := sum(s in a for a in m.answers))} for m in members
    }
    total = sum(m.total for m in members)
    if not any(m.answers for m in members):
        return Merged(no_valid_vote(len(members), total, reasons), _NONE, votes)
    found = set_vote(members, ranked)
    majority = [s for s in ranked if found.decisions[s].keep]
    kept = without_overlaps(majority, {s: found.decisions[s].yes for s in majority})
    # a majority span dropped for an overlap is decided "no": its confidence is the share of no
    decided = {s: d.yes if s in kept else d.no for s, d in found.decisions.items()}
    extra: dict[str, Any] = {}
    tokens = next((a.tokens for v in answers.values() for a in v if a.tokens is not None), None)
    if tokens is not None:
        extra["tags"] = bio_tags([(s.start, s.end, s.label) for s in kept], tokens)
    extra["dropped_spans"] = [
        f"{b.name}: sample {i}: {why}"
        for b in ballots
        for i, v in enumerate(b.values)
        if v is not None
        for why in cast(SpanAnswer, v).dropped
    ]
    vote = Vote(
        label=[{**s._asdict(), "confidence": round(decided[s], 6)} for s in ranked if s in kept],
        confidence=min(decided.values(), default=found.valid),
        counts={s.key: counts[s] for s in ranked},
        total=total,
        tie=any(d.tie for d in found.decisions.values()) or len(kept) < len(majority),
        label_confidence={s.key: round(share, 6) for s, share in decided.items()},
        extra=extra,
    )
    return Merged(vote, _disagreement(found, lambda s: s.key), votes)


def labels_answer(answer: Any, labels: Sequence[str], record: Mapping[str, Any]) -> frozenset[str]:
    """A multi-label rule's answer: a label, or a list (set, tuple) of labels."""
    items = [answer] if isinstance(answer, str) else answer
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise ValueError("not a label or a list of labels")
    unknown = [item for item in items if not isinstance(item, str) or item not in labels]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a label of the task")
    return frozenset(items)


def spans_answer(answer: Any, labels: Sequence[str], record: Mapping[str, Any]) -> SpanAnswer:
    """An NER rule's answer: a list of entities, each ``{"text", "label"}`` (found in the
    record's ``text`` as a model's mention is) or ``{"start", "end", "label"}`` (offsets)."""
    text = str(record.get("text") or "")
    if not isinstance(answer, (list, tuple)):
        raise ValueError("not a list of entities")
    spans: set[Span] = set()
    mentions: list[tuple[str, str]] = []
    for entity in answer:
        label = entity.get("label") if isinstance(entity, Mapping) else None
        if not isinstance(label, str) or label not in labels:
            raise ValueError(f"{entity!r} is not an entity with a label of the task")
        start, end = entity.get("start"), entity.get("end")
        if isinstance(start, int) and isinstance(end, int):
            if not 0 <= start < end <= len(text):
                raise ValueError(f"{entity!r} is not inside the text")
            spans.add(Span(start, end, label, text[start:end]))
        elif isinstance(entity.get("text"), str):
            mentions.append((entity["text"], label))
        else:
            raise ValueError(f"{entity!r} has neither a text nor integer start and end")
    found, dropped = recover(mentions, text)
    if dropped:
        raise ValueError(f"the entity {dropped[0]}")
    tokens = record.get("tokens")
    offsets = token_offsets(tokens, text) if isinstance(tokens, list) else None
    return SpanAnswer(frozenset(spans | found), (), offsets)


def span_rule(label: str, pattern: re.Pattern[str], fields: Sequence[str]) -> LabelingFunction:
    """An NER keyword or regex rule: every match in the record's ``text`` is an entity of type
    ``label``; no match abstains."""

    def rule(record: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        text = str(record["text"] or "")
        found = [
            {"start": m.start(), "end": m.end(), "label": label}
            for m in pattern.finditer(text)
            if m.end() > m.start()
        ]
        return found or None

    return rule


def _disagreement(found: SetVote[T], key: Any) -> Disagreement:
    """The record's disagreement; ``consensus``: each item's consensus share of yes."""
    consensus = {key(item): d.yes for item, d in found.decisions.items()}
    return Disagreement(consensus, found.entropy, found.kl, found.disagreement)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


_NONE = Disagreement({}, 0.0, {}, 0.0)

MULTI_LABEL = CommitteeRules(
    merge=merge_labels,
    answer=labels_answer,
    pattern=regex_rule,
    returns=lambda labels: f"one of {', '.join(labels)}, or a list of them",
)
SPANS = CommitteeRules(
    merge=merge_spans,
    answer=spans_answer,
    pattern=span_rule,
    returns=lambda labels: (
        'a list of entities {"text": ..., "label": ...} or {"start": ..., "end": ..., '
        f'"label": ...}} with labels among {", ".join(labels)}'
    ),
    fields=("text",),
)
"""NER committees: rules find their entities in the record's ``text``."""
