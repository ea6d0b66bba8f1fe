"""Relation triples from raw text: (head, relation, tail), located in the record, voted per triple.

The model names each triple's head and tail by their text; ``llmlabel.core.spans.recover``
finds each in the record's ``text`` (its first occurrence, whole words preferred: an entity
takes part in many triples, so mentions are not counted off as NER's are). A triple whose head
or tail is not in the text is dropped with the reason, never guessed. Pure: no I/O.

Voting (``triple_vote``), as NER's span vote: a triple ``(head span, relation, tail span)`` is
kept when more than half of the valid samples have it (exactly half: not kept, ``tie=True``);
its confidence is the share of all samples that agree with the decision on it (invalid samples
lower it); the record's ``confidence`` is the weakest decision (1 when every sample agrees,
also on "no triples").

Scoring: a predicted triple is right when its head text, relation and tail text equal a gold
triple's (offsets are not compared: a string named twice is one entity here); micro P/R/F1
pool every triple, macro-F1 averages the relations seen in gold or predicted, ``Other`` left
out (see ``llmlabel.core.labelsets``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, create_model

from llmlabel.core.labelsets import SetCounts
from llmlabel.core.metrics import ClassScore, Outcome
from llmlabel.core.relations import OTHER
from llmlabel.core.scoring import Metric, Scoring, Unscorable
from llmlabel.core.spans import MAX_ENTITY_CHARS, recover
from llmlabel.core.vote import Soft, Vote, abstain, weights
from llmlabel.errors import SchemaError

TRIPLES_FIELD = "triples"
MAX_TRIPLES = 16


class Triple(NamedTuple):
    """``text[head_start:head_end]`` --``relation``--> ``text[tail_start:tail_end]``."""

    head_start: int
    head_end: int
    relation: str
    tail_start: int
    tail_end: int
    head: str
    tail: str

    @property
    def key(self) -> str:
        """How the triple is named in a row's ``votes`` and ``label_confidence``."""
        return (
            f"{self.head_start}:{self.head_end} {self.head} | {self.relation} | "
            f"{self.tail_start}:{self.tail_end} {self.tail}"
        )

    def as_row(self, confidence: float) -> dict[str, Any]:
        return {
            "head": {"text": self.head, "start": self.head_start, "end": self.head_end},
            "relation": self.relation,
            "tail": {"text": self.tail, "start": self.tail_start, "end": self.tail_end},
            "confidence": round(confidence, 6),
        }


@dataclass(frozen=True)
class TripleAnswer:
    """One sample's triples located in the record, and the ones dropped (with why)."""

    triples: frozenset[Triple]
    dropped: tuple[str, ...] = ()


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def triples_model(labels: list[str], name: str = "Triples") -> type[BaseModel]:
    """``{"triples": [{"head": ..., "relation": one of labels, "tail": ...}, ...]}``, bounded."""
    if not labels:
        raise SchemaError("a relation_triples schema needs at least one relation")
    literal: Any = Literal
    relation: Any = literal[tuple(labels)]
    entity = Field(min_length=1, max_length=MAX_ENTITY_CHARS, description="as written")
    triple: type[BaseModel] = create_model(
        f"{name}Triple",
        __base__=_Closed,
        head=(str, entity),
        relation=(relation, Field(description="how the head relates to the tail")),
        tail=(str, entity),
    )
    fields: dict[str, Any] = {
        TRIPLES_FIELD: (
            list.__class_getitem__(triple),
            Field(max_length=MAX_TRIPLES, description="every relation stated; [] if none"),
        )
    }
    model: type[BaseModel] = create_model(name, __base__=_Closed, **fields)
    return model


def locate(
    named: Sequence[tuple[str, str, str]], text: str
) -> tuple[frozenset[Triple], tuple[str, ...]]:
    """Triples for (head, relation, tail) texts; one whose head or tail is not in ``text`` is
    dropped, said why."""
    triples: set[Triple] = set()
    dropped: list[str] = []
    for head, relation, tail in named:
        (head_spans, head_missing), (tail_spans, tail_missing) = (
            recover([(head, "head")], text),  # each alone: its first occurrence
            recover([(tail, "tail")], text),
        )
        head_span, tail_span = next(iter(head_spans), None), next(iter(tail_spans), None)
        why = [*head_missing, *tail_missing]
        if head_span is None or tail_span is None:
            dropped.append(f"({head!r}, {relation}, {tail!r}): {'; '.join(why)}")
            continue
        triples.add(
            Triple(
                head_span.start,
                head_span.end,
                relation,
                tail_span.start,
                tail_span.end,
                head_span.text,
                tail_span.text,
            )
        )
    return frozenset(triples), tuple(dropped)


def answer_value(answer: BaseModel, record: Mapping[str, Any]) -> TripleAnswer:
    """A validated answer's triples located in the record's ``text``."""
    named = [
        (t.head, str(getattr(t.relation, "value", t.relation)), t.tail)
        for t in getattr(answer, TRIPLES_FIELD)
    ]
    triples, dropped = locate(named, str(record.get("text", "")))
    return TripleAnswer(triples, dropped)


def triple_vote(
    values: Sequence[TripleAnswer | None],
    order: Sequence[str],
    reasons: Sequence[str] = (),
    soft: Soft | None = None,
) -> Vote:
    """Per-triple majority vote over the samples' located triples (``None`` = invalid); with
    ``soft``, a triple's confidence is its tokens' probability (``llmlabel.core.vote.weights``)."""
    total = len(values)
    valid = [v for v in values if v is not None]
    if not valid:
        return abstain(total, reasons)
    counts = Counter(t for v in valid for t in v.triples)
    kept = {t for t, c in counts.items() if 2 * c > len(valid)}
    rank = {label: i for i, label in enumerate(order)}
    ranked = sorted(
        counts, key=lambda t: (t.head_start, t.tail_start, rank.get(t.relation, len(rank)), t)
    )
    support, nothing = weights(counts, [v and v.triples for v in values], soft)
    decided = {t: (support[t] if t in kept else len(valid) - support[t]) / total for t in ranked}
    dropped = [f"sample {i}: {d}" for i, v in enumerate(values) if v for d in v.dropped]
    return Vote(
        label=[t.as_row(decided[t]) for t in ranked if t in kept],
        confidence=min(decided.values(), default=nothing / total),
        counts={t.key: counts[t] for t in ranked},
        total=total,
        tie=any(2 * c == len(valid) for c in counts.values()),
        label_confidence={t.key: round(share, 6) for t, share in decided.items()},
        extra={"dropped_triples": dropped},
    )


# Scoring: values are frozensets of (head text, relation, tail text).

GOLD_FORMAT = (
    '{"id": ..., "text": ..., "triples": [{"head": "Marie Curie", "relation": ..., '
    '"tail": "Warsaw"}]}'
)
Item = tuple[str, str, str]


def gold_triples(row: Mapping[str, Any]) -> frozenset[Item]:
    return _items(row.get("triples"), "has no triples list", f"gold rows look like {GOLD_FORMAT}")


def predicted_triples(label: Any) -> frozenset[Item]:
    return _items(
        label,
        f"has no list of triples (got {type(label).__name__})",
        "relation_triples predictions have a list of {head, relation, tail} as `label`",
    )


def _items(value: Any, problem: str, hint: str) -> frozenset[Item]:
    try:
        return frozenset((_text(t["head"]), str(t["relation"]), _text(t["tail"])) for t in value)
    except (TypeError, KeyError):
        raise Unscorable(problem, hint) from None


def _text(entity: Any) -> str:
    """An entity's text: a string, or a ``{text, start, end}`` object; spaces normalised."""
    text = entity["text"] if isinstance(entity, Mapping) else entity
    if not isinstance(text, str):
        raise TypeError(text)
    return " ".join(text.split())


def _relation(item: Item) -> str:
    return item[1]


def triple_precision(outcomes: Sequence[Outcome]) -> float:
    return SetCounts.of(outcomes, _relation).micro()[0]


def triple_recall(outcomes: Sequence[Outcome]) -> float:
    return SetCounts.of(outcomes, _relation).micro()[1]


def triple_f1(outcomes: Sequence[Outcome]) -> float:
    return SetCounts.of(outcomes, _relation).micro()[2]


def triple_macro_f1_without_other(outcomes: Sequence[Outcome]) -> float:
    counts = SetCounts.of(outcomes, _relation)
    scores = [counts.score(r).f1 for r in counts.types if r != OTHER]
    return sum(scores) / len(scores) if scores else 0.0


def per_relation(outcomes: Sequence[Outcome]) -> list[ClassScore]:
    counts = SetCounts.of(outcomes, _relation)
    return [counts.score(r) for r in counts.types]


SCORING = Scoring(
    gold=gold_triples,
    predicted=predicted_triples,
    metrics=(
        Metric("triple_f1", "triple micro-F1", triple_f1),
        Metric("triple_precision", "triple micro-precision", triple_precision),
        Metric("triple_recall", "triple micro-recall", triple_recall),
        Metric(
            "triple_macro_f1_excl_other",
            "triple macro-F1 excluding Other",
            triple_macro_f1_without_other,
        ),
    ),
    gold_format=GOLD_FORMAT,
    per_class=per_relation,
    per_class_title="Per relation",
)
