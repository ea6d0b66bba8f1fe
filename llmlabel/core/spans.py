"""Named-entity spans: offsets recovered in the record, span-level voting, BIO tags, span metrics.

The model names entities by their text and type, never by offsets (small models count characters
badly). ``recover`` finds each named text in the record: each mention takes the first occurrence
no other mention has taken (longer mentions first, whole-word occurrences preferred), and a
mention that is not in the text is dropped with a reason, never guessed. Pure: no I/O.

Voting (``span_vote``), rules documented in docs/ner.md:
- each valid sample votes for a set of spans ``(start, end, type)``; a span is kept when more
  than half of the valid samples have it (exactly half is a tie: not kept, ``tie=True``);
- a span's confidence is the share of all samples that agree with the decision on it, so invalid
  samples lower it; the record's ``confidence`` is the weakest decision (1 when every sample
  agrees, including on "no entities");
- kept spans that overlap cannot all be right: the one with more votes (then the longer, then
  the earlier) stays, the others are dropped and the vote is flagged ``tie=True``.

Metrics are strict span matching as seqeval's: a predicted span counts only when its start, end
and type equal a gold span's (see ``llmlabel.core.labelsets`` for the pooling rules).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, create_model

from llmlabel.core.labelsets import SetCounts
from llmlabel.core.metrics import ClassScore, Outcome
from llmlabel.core.scoring import Metric, Scoring, Unscorable
from llmlabel.core.vote import Soft, Vote, abstain, weights
from llmlabel.errors import SchemaError

ENTITIES_FIELD = "entities"
MAX_ENTITIES = 32
MAX_ENTITY_CHARS = 200


class Span(NamedTuple):
    """Characters ``text[start:end]`` of entity type ``label``."""

    start: int
    end: int
    label: str
    text: str

    @property
    def key(self) -> str:
        """How the span is named in a row's ``votes`` and ``label_confidence``."""
        return f"{self.start}:{self.end} {self.label} {self.text}"


@dataclass(frozen=True)
class SpanAnswer:
    """One sample's entities located in the record: ``spans``; ``dropped``: mentions that are
    not in the text, with why; ``tokens``: the record's token offsets, for BIO tags."""

    spans: frozenset[Span]
    dropped: tuple[str, ...] = ()
    tokens: tuple[tuple[int, int], ...] | None = None


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def ner_model(labels: list[str], name: str = "Entities") -> type[BaseModel]:
    """``{"entities": [{"text": ..., "label": one of labels}, ...]}``, bounded in size."""
    if not labels:
        raise SchemaError("an NER schema needs at least one entity type")
    literal: Any = Literal
    label_type: Any = literal[tuple(labels)]
    entity: type[BaseModel] = create_model(
        f"{name}Entity",
        __base__=_Closed,
        text=(str, Field(min_length=1, max_length=MAX_ENTITY_CHARS, description="as written")),
        label=(label_type, Field(description="the entity type")),
    )
    fields: dict[str, Any] = {
        ENTITIES_FIELD: (
            list.__class_getitem__(entity),
            Field(max_length=MAX_ENTITIES, description="every entity, in order; [] if none"),
        )
    }
    model: type[BaseModel] = create_model(name, __base__=_Closed, **fields)
    return model


def answer_value(answer: BaseModel, record: Mapping[str, Any]) -> SpanAnswer:
    """A validated NER answer located in the record's ``text`` (tokens from ``tokens``)."""
    text = str(record.get("text", ""))
    mentions = [(e.text, _plain(e.label)) for e in getattr(answer, ENTITIES_FIELD)]
    spans, dropped = recover(mentions, text)
    tokens = record.get("tokens")
    offsets = token_offsets(tokens, text) if isinstance(tokens, list) else None
    return SpanAnswer(spans=spans, dropped=dropped, tokens=offsets)


def recover(
    mentions: Sequence[tuple[str, str]], text: str
) -> tuple[frozenset[Span], tuple[str, ...]]:
    """Spans for (mention text, type) pairs; mentions not found are dropped, said why.

    Each mention takes the first occurrence in the text that no other mention of the answer
    has taken, counting only whole-word occurrences when there are any (so "US" is not found
    inside "USA"). Longer mentions are placed first, so "Obama" after "Barack Obama" is the
    later "Obama", not the one inside "Barack Obama"; the spans of one answer never overlap.
    """
    taken: list[tuple[int, int]] = []
    spans: set[Span] = set()
    dropped: dict[int, str] = {}
    longest_first = sorted(range(len(mentions)), key=lambda i: -len(mentions[i][0].strip()))
    for i in longest_first:
        mention, label = mentions[i][0].strip(), mentions[i][1]
        starts = _occurrences(mention, text) if mention else []
        free = [s for s in starts if all(s >= e or s + len(mention) <= b for b, e in taken)]
        if not free:
            where = "is not in the text" if not starts else f"is in the text {len(starts)} time(s)"
            if starts:
                where += ", each taken by another entity of the answer"
            dropped[i] = f"{mention!r} ({label}) {where}"
            continue
        taken.append((free[0], free[0] + len(mention)))
        spans.add(Span(free[0], free[0] + len(mention), label, mention))
    return frozenset(spans), tuple(dropped[i] for i in sorted(dropped))


def _occurrences(mention: str, text: str) -> list[int]:
    starts, i = [], text.find(mention)
    while i >= 0:
        starts.append(i)
        i = text.find(mention, i + 1)
    whole = [s for s in starts if _bounded(text, s, s + len(mention))]
    return whole or starts


def _bounded(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not before.isalnum() and not after.isalnum()


def token_offsets(tokens: Sequence[Any], text: str) -> tuple[tuple[int, int], ...] | None:
    """Each token's (start, end) in ``text``, found left to right; None if one is missing."""
    offsets, cursor = [], 0
    for token in tokens:
        token = str(token)
        start = text.find(token, cursor)
        if start < 0 or text[cursor:start].strip():
            return None
        offsets.append((start, start + len(token)))
        cursor = start + len(token)
    return tuple(offsets)


def bio_tags(
    spans: Sequence[tuple[int, int, str]], offsets: Sequence[tuple[int, int]]
) -> list[str]:
    """BIO (IOB2) tags: a token overlapping a span is inside it; the first such token is B.
    Spans must not overlap (``span_vote`` guarantees it for kept spans); when two still share
    a token (``ABC-DEF`` holding two entities), the token stays with the earlier span."""
    tags = ["O"] * len(offsets)
    for start, end, label in sorted(spans):
        inside = [i for i, (s, e) in enumerate(offsets) if s < end and e > start and tags[i] == "O"]
        for n, i in enumerate(inside):
            tags[i] = f"{'B' if n == 0 else 'I'}-{label}"
    return tags


def bio_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entity chunks ``(first token, last token + 1, type)`` of BIO tags, as seqeval reads them
    by default: an ``I-`` after ``O`` or after another type starts a new chunk."""
    chunks: list[tuple[int, int, str]] = []
    current: list[Any] | None = None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, label = tag.partition("-")
        continues = prefix == "I" and current is not None and current[2] == label
        if current is not None and not continues:
            chunks.append((current[0], i, current[2]))
            current = None
        if prefix in ("B", "I") and not continues:
            current = [i, i + 1, label]
    return chunks


def span_vote(
    values: Sequence[SpanAnswer | None],
    order: Sequence[str],
    reasons: Sequence[str] = (),
    soft: Soft | None = None,
) -> Vote:
    """Span-level vote over the samples' located spans (``None`` = invalid sample); with
    ``soft``, a span's confidence is its tokens' probability (``llmlabel.core.vote.weights``)."""
    total = len(values)
    valid = [v for v in values if v is not None]
    if not valid:
        return abstain(total, reasons)
    counts = Counter(span for v in valid for span in v.spans)
    majority = [s for s, c in counts.items() if 2 * c > len(valid)]
    kept = without_overlaps(majority, counts)
    tie = any(2 * c == len(valid) for c in counts.values()) or len(kept) < len(majority)
    ranked = sorted(counts, key=lambda s: (s.start, s.end, label_rank(s.label, order)))
    support, nothing = weights(counts, [v and v.spans for v in values], soft)
    decided = {s: (support[s] if s in kept else len(valid) - support[s]) / total for s in ranked}
    entities = [{**s._asdict(), "confidence": round(decided[s], 6)} for s in ranked if s in kept]
    extra: dict[str, Any] = {}
    tokens = valid[0].tokens
    if tokens is not None:
        extra["tags"] = bio_tags([(s.start, s.end, s.label) for s in kept], tokens)
    dropped = [f"sample {i}: {d}" for i, v in enumerate(values) if v for d in v.dropped]
    extra["dropped_spans"] = dropped
    return Vote(
        label=entities,
        confidence=min(decided.values(), default=nothing / total),
        counts={s.key: counts[s] for s in ranked},
        total=total,
        tie=tie,
        label_confidence={s.key: round(share, 6) for s, share in decided.items()},
        extra=extra,
    )


def without_overlaps(spans: Sequence[Span], score: Mapping[Span, float]) -> set[Span]:
    """The spans that stay when overlapping ones compete: the higher ``score`` (votes, or a
    committee's consensus), then the longer, then the earlier wins."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (-score[s], s.start - s.end, s.start, s.label)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return set(kept)


def label_rank(label: str, order: Sequence[str]) -> int:
    """Where ``label`` is in the task's order (unknown labels last)."""
    return order.index(label) if label in order else len(order)


def _plain(value: Any) -> str:
    return str(getattr(value, "value", value))


# Scoring: values are frozensets of (start, end, type).

GOLD_FORMAT = '{"id": ..., "text": ..., "entities": [{"start": 0, "end": 5, "label": ...}]}'


def gold_spans(row: Mapping[str, Any]) -> frozenset[tuple[int, int, str]]:
    """Gold entities from ``entities`` (char offsets), else from ``tokens`` + ``tags`` (BIO)
    located in ``text``."""
    if "entities" in row:
        return _span_set(row["entities"], "has malformed entities", GOLD_FORMAT)
    tokens, tags, text = row.get("tokens"), row.get("tags"), row.get("text")
    if isinstance(tokens, list) and isinstance(tags, list) and isinstance(text, str):
        offsets = token_offsets(tokens, text)
        if offsets is None or len(tags) != len(offsets):
            raise Unscorable("has tokens and tags that do not line up with its text")
        return frozenset((offsets[i][0], offsets[j - 1][1], t) for i, j, t in bio_spans(tags))
    raise Unscorable("has no entities", hint=f"NER gold rows look like {GOLD_FORMAT}")


def predicted_spans(label: Any) -> frozenset[tuple[int, int, str]]:
    return _span_set(
        label,
        f"has no list of entities (got {type(label).__name__})",
        "NER predictions have a list of {start, end, label} entities as `label`",
    )


def _span_set(value: Any, problem: str, hint: str) -> frozenset[tuple[int, int, str]]:
    try:
        return frozenset((int(e["start"]), int(e["end"]), str(e["label"])) for e in value)
    except (TypeError, KeyError, ValueError):
        raise Unscorable(problem, hint) from None


def _type(span: tuple[int, int, str]) -> str:
    return span[2]


def span_precision(outcomes: Sequence[Outcome]) -> float:
    return SetCounts.of(outcomes, _type).micro()[0]


def span_recall(outcomes: Sequence[Outcome]) -> float:
    return SetCounts.of(outcomes, _type).micro()[1]


def span_f1(outcomes: Sequence[Outcome]) -> float:
    return SetCounts.of(outcomes, _type).micro()[2]


def span_macro_f1(outcomes: Sequence[Outcome]) -> float:
    return SetCounts.of(outcomes, _type).macro_f1()


def per_type(outcomes: Sequence[Outcome]) -> list[ClassScore]:
    counts = SetCounts.of(outcomes, _type)
    return [counts.score(t) for t in counts.types]


SCORING = Scoring(
    gold=gold_spans,
    predicted=predicted_spans,
    metrics=(
        Metric("span_f1", "span micro-F1 (strict)", span_f1),
        Metric("span_precision", "span micro-precision", span_precision),
        Metric("span_recall", "span micro-recall", span_recall),
        Metric("span_macro_f1", "span macro-F1 over types", span_macro_f1),
    ),
    gold_format=GOLD_FORMAT,
    per_class=per_type,
    per_class_title="Per entity type",
)
