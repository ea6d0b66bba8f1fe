"""Metrics for answers that are sets of items: multi-label (items are labels), NER (items are
typed spans), relation triples (items are (head, relation, tail)). Pure: outcomes in, floats out.

Each item has a type (a label is its own type; a span's type is its entity type) and counts per
type are pooled as scikit-learn's multi-label metrics and seqeval do:
- an abstained or failed record predicts the empty set, so its gold items are misses;
- micro-F1 pools true positives, predicted and gold items over every type;
- macro-F1 is the unweighted mean F1 over the types seen in gold or predicted (0/0 is 0);
- Hamming loss is the share of (record, label) decisions that are wrong, over the labels seen
  in gold or predicted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from llmlabel.core.metrics import ClassScore, Outcome

TypeOf = Callable[[Any], str]


def _label(item: Any) -> str:
    return str(item)


@dataclass(frozen=True)
class SetCounts:
    """True positives, gold items and predicted items per type."""

    hits: Counter[str]
    gold: Counter[str]
    predicted: Counter[str]

    @classmethod
    def of(cls, outcomes: Iterable[Outcome], type_of: TypeOf = _label) -> SetCounts:
        hits: Counter[str] = Counter()
        gold: Counter[str] = Counter()
        predicted: Counter[str] = Counter()
        for o in outcomes:
            truth, guess = items(o.gold), items(o.predicted)
            gold.update(type_of(i) for i in truth)
            predicted.update(type_of(i) for i in guess)
            hits.update(type_of(i) for i in truth & guess)
        return cls(hits, gold, predicted)

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(sorted(self.gold.keys() | self.predicted.keys()))

    def score(self, kind: str) -> ClassScore:
        precision = _ratio(self.hits[kind], self.predicted[kind])
        recall = _ratio(self.hits[kind], self.gold[kind])
        return ClassScore(
            label=kind,
            precision=precision,
            recall=recall,
            f1=f1(precision, recall),
            support=self.gold[kind],
            predicted=self.predicted[kind],
        )

    def micro(self) -> tuple[float, float, float]:
        """Pooled (precision, recall, F1)."""
        hits, predicted, gold = (sum(c.values()) for c in (self.hits, self.predicted, self.gold))
        precision, recall = _ratio(hits, predicted), _ratio(hits, gold)
        return precision, recall, f1(precision, recall)

    def macro_f1(self) -> float:
        types = self.types
        return sum(self.score(t).f1 for t in types) / len(types) if types else 0.0


def items(value: Any) -> frozenset[Hashable]:
    """An outcome's gold or predicted set; no prediction is the empty set."""
    return frozenset() if value is None else frozenset(value)


def per_label(outcomes: Sequence[Outcome]) -> list[ClassScore]:
    counts = SetCounts.of(outcomes)
    return [counts.score(t) for t in counts.types]


def micro_f1(outcomes: Sequence[Outcome]) -> float:
    return SetCounts.of(outcomes).micro()[2]


def macro_f1(outcomes: Sequence[Outcome]) -> float:
    return SetCounts.of(outcomes).macro_f1()


def hamming_loss(outcomes: Sequence[Outcome]) -> float:
    labels = SetCounts.of(outcomes).types
    if not outcomes or not labels:
        return 0.0
    wrong = sum(len(items(o.gold) ^ items(o.predicted)) for o in outcomes)
    return wrong / (len(outcomes) * len(labels))


def f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2 * precision * recall / total if total else 0.0


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
