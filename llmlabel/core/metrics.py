"""Classification metrics against gold labels. Pure: lists in, frozen values out.

Conventions (the same as scikit-learn's where it has the metric):
- An abstained or failed record has no label: it is wrong, it counts toward recall's
  denominator of its gold class (a false negative) and toward no class's precision.
- The classes are the labels seen in gold or predicted. A class that is predicted but never
  gold has recall 0/0 and a class never predicted has precision 0/0; 0/0 is 0, as in
  scikit-learn's ``zero_division=0``.
- Micro-F1 pools every class's counts. With no abstentions it equals accuracy; with them,
  micro precision is accuracy over the labeled records and micro recall accuracy over all.
- Bootstrap intervals resample records with replacement (seeded), recompute the metric and
  take the percentile interval, so they need no normality assumption.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

Status = Literal["labeled", "abstained", "failed", "skipped"]
"""A row's status, the one list every command reads: ``labeled`` (a label), ``abstained`` (no
valid answer), ``failed`` (its requests failed), ``skipped`` (a bad record, ``--on-error
skip``). Only ``labeled`` rows carry a label; the others count as wrong when scored."""
STATUSES: tuple[str, ...] = get_args(Status)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One record scored against gold. ``predicted`` is None unless ``status == "labeled"``.

    ``gold`` and ``predicted`` are the kind's values (a label here; a label set or a span set
    for other kinds, see ``llmlabel.core.scoring``). ``match`` is the kind's verdict on a
    labeled record; ``None`` means exact equality.
    """

    id: str
    gold: Any
    predicted: Any
    confidence: float
    status: Status = "labeled"
    match: bool | None = None

    @property
    def correct(self) -> bool:
        if self.predicted is None:
            return False
        return self.predicted == self.gold if self.match is None else self.match


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClassScore(_Value):
    label: str
    precision: float
    recall: float
    f1: float
    support: int
    """Gold records of this class."""
    predicted: int
    """Records labeled with this class."""


class ConfusionMatrix(_Value):
    """``counts[i][j]``: gold ``labels[i]`` predicted as ``labels[j]``; abstained and failed
    records of each gold class have their own columns, so every record is in the matrix."""

    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    abstained: tuple[int, ...]
    failed: tuple[int, ...]


class Interval(_Value):
    """A point estimate with its bootstrap interval."""

    value: float
    low: float
    high: float
    level: float = 0.95


def accuracy(outcomes: Sequence[Outcome]) -> float:
    return sum(o.correct for o in outcomes) / len(outcomes) if outcomes else 0.0


def classes(outcomes: Iterable[Outcome]) -> tuple[str, ...]:
    """The labels seen in gold or predicted, sorted so reports are stable."""
    return _Counts.of(outcomes).labels


def per_class(outcomes: Sequence[Outcome], labels: Sequence[str] | None = None) -> list[ClassScore]:
    """Precision, recall, F1, support and predicted count for each class."""
    counts = _Counts.of(outcomes)
    return [counts.score(label) for label in (counts.labels if labels is None else labels)]


def macro_f1(outcomes: Sequence[Outcome]) -> float:
    """Unweighted mean F1 over the classes seen in gold or predicted."""
    counts = _Counts.of(outcomes)
    labels = counts.labels
    return sum(counts.f1(label) for label in labels) / len(labels) if labels else 0.0


def micro_f1(outcomes: Sequence[Outcome]) -> float:
    """F1 of the pooled counts: precision over labeled records, recall over all records."""
    correct = sum(o.correct for o in outcomes)
    labeled = sum(o.predicted is not None for o in outcomes)
    return _f1(_ratio(correct, labeled), _ratio(correct, len(outcomes)))


def confusion_matrix(
    outcomes: Sequence[Outcome], labels: Sequence[str] | None = None
) -> ConfusionMatrix:
    labels = classes(outcomes) if labels is None else tuple(labels)
    index = {label: i for i, label in enumerate(labels)}
    size = len(labels)
    counts = [[0] * size for _ in labels]
    abstained, failed = [0] * size, [0] * size
    for o in outcomes:
        row = index[o.gold]
        if o.predicted is not None:
            counts[row][index[o.predicted]] += 1
        elif o.status in ("failed", "skipped"):
            failed[row] += 1
        else:
            abstained[row] += 1
    return ConfusionMatrix(
        labels=tuple(labels),
        counts=tuple(tuple(r) for r in counts),
        abstained=tuple(abstained),
        failed=tuple(failed),
    )


Statistic = Callable[[Sequence[Outcome]], float]


def bootstrap(
    outcomes: Sequence[Outcome],
    statistics: dict[str, Statistic],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Interval]:
    """Percentile intervals of each statistic over the same seeded resamples of the records.

    Every statistic sees the same resamples, so their intervals are comparable; the same seed
    and records give the same intervals.
    """
    if resamples < 1:
        raise ValueError("resamples must be >= 1")
    rng = random.Random(seed)
    draws: dict[str, list[float]] = {name: [] for name in statistics}
    n = len(outcomes)
    for _ in range(resamples if n else 0):
        sample = rng.choices(outcomes, k=n)
        for name, statistic in statistics.items():
            draws[name].append(statistic(sample))
    tail = (1 - level) / 2
    intervals = {}
    for name, statistic in statistics.items():
        values = sorted(draws[name])
        point = statistic(outcomes)
        low, high = (_quantile(values, tail), _quantile(values, 1 - tail)) if values else (0, 1)
        intervals[name] = Interval(value=point, low=low, high=high, level=level)
    return intervals


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default method)."""
    position = q * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


@dataclass(frozen=True)
class _Counts:
    gold: Counter[str]
    predicted: Counter[str]
    hits: Counter[str]

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> _Counts:
        # Counting (gold, predicted) pairs first keeps the per-record work in C, which matters
        # inside the bootstrap (a thousand passes over every record).
        cells = Counter((o.gold, o.predicted) for o in outcomes)
        gold: Counter[str] = Counter()
        predicted: Counter[str] = Counter()
        hits: Counter[str] = Counter()
        for (truth, guess), count in cells.items():
            gold[truth] += count
            if guess is not None:
                predicted[guess] += count
                hits[truth] += count if guess == truth else 0
        return cls(gold, predicted, hits)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted(self.gold.keys() | self.predicted.keys()))

    def precision(self, label: str) -> float:
        return _ratio(self.hits[label], self.predicted[label])

    def recall(self, label: str) -> float:
        return _ratio(self.hits[label], self.gold[label])

    def f1(self, label: str) -> float:
        return _f1(self.precision(label), self.recall(label))

    def score(self, label: str) -> ClassScore:
        return ClassScore(
            label=label,
            precision=self.precision(label),
            recall=self.recall(label),
            f1=self.f1(label),
            support=self.gold[label],
            predicted=self.predicted[label],
        )


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2 * precision * recall / total if total else 0.0
