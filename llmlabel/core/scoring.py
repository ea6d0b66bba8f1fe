"""How a task kind is scored against gold: one ``Scoring`` per kind, hung on its ``Kind``.

``llmlabel.core.evaluation`` pairs output rows with gold rows by id and asks the kind's scoring
three things: the gold value of a gold row, the predicted value of a labeled row's ``label``,
and whether the two agree (exact equality unless the kind says otherwise). That record-level
``correct`` drives accuracy, calibration and selective prediction for every kind; the kind's
corpus ``metrics`` (F1s, Hamming loss, ...) are reported with bootstrap intervals beside it.
Values must be hashable. Abstained and failed records have no predicted value (``None``).

A new kind registers its metrics by giving its ``Kind`` a ``Scoring``; nothing else changes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmlabel.core import labelsets
from llmlabel.core.metrics import ClassScore, Outcome, Statistic, macro_f1, micro_f1, per_class


class Unscorable(ValueError):
    """A gold row or a prediction that the kind cannot read: ``problem`` completes the sentence
    "gold record 'x' ..." / "labeled prediction 'x' ..."; ``hint`` says how to fix it."""

    def __init__(self, problem: str, hint: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


@dataclass(frozen=True)
class Metric:
    """A corpus metric: ``name`` is its key in summary.json, ``title`` its name in reports."""

    name: str
    title: str
    compute: Statistic


@dataclass(frozen=True)
class Scoring:
    """``gold``: a gold row's value (raise ``Unscorable`` if it has none); ``predicted``: the
    value of a labeled output row's ``label``; ``correct``: whether a labeled record is right;
    ``metrics``: corpus metrics beside accuracy, each bootstrapped; ``per_class``: the per
    label/type table (``per_class_title`` heads it); ``confusion``: single-label kinds get a
    confusion matrix; ``gold_format``: one gold row, for hints."""

    gold: Callable[[Mapping[str, Any]], Hashable]
    predicted: Callable[[Any], Hashable]
    metrics: tuple[Metric, ...]
    gold_format: str
    per_class: Callable[[Sequence[Outcome]], list[ClassScore]] = per_class
    per_class_title: str = "Per class"
    confusion: bool = False
    correct: Callable[[Any, Any], bool] = operator.eq


def single_label_gold(row: Mapping[str, Any], field: str = "label") -> str:
    label = row.get(field)
    if isinstance(label, bool) or not isinstance(label, (str, int)):
        hint = f'gold rows look like {{"id": ..., "{field}": ...}}'
        if "labels" in row:
            hint = "this looks like multi-label gold; the predictions are single-label"
        raise Unscorable(f"has no {field}", hint)
    return str(label)


def single_label_predicted(label: Any) -> str:
    if not isinstance(label, str):
        raise Unscorable(
            f"has no single label (got {type(label).__name__})",
            hint="single-label predictions have one string `label` per row; check that the "
            "rows' provenance.kind is the task's kind",
        )
    return label


def _label_list(value: Any, what: str, hint: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise Unscorable(f"has no list of {what} (got {type(value).__name__})", hint)
    return frozenset(str(v) for v in value)


def _multi_gold(row: Mapping[str, Any]) -> frozenset[str]:
    return _label_list(
        row.get("labels"), "labels", 'gold rows look like {"id": ..., "labels": [...]}'
    )


def _multi_predicted(label: Any) -> frozenset[str]:
    return _label_list(label, "labels", "multi-label predictions have a list `label` per row")


CLASSIFICATION = Scoring(
    gold=single_label_gold,
    predicted=single_label_predicted,
    metrics=(
        Metric("macro_f1", "macro-F1", macro_f1),
        Metric("micro_f1", "micro-F1", micro_f1),
    ),
    gold_format='{"id": ..., "label": ...}',
    confusion=True,
)

MULTI_LABEL = Scoring(
    gold=_multi_gold,
    predicted=_multi_predicted,
    metrics=(
        Metric("micro_f1", "micro-F1", labelsets.micro_f1),
        Metric("macro_f1", "macro-F1", labelsets.macro_f1),
        Metric("hamming_loss", "Hamming loss", labelsets.hamming_loss),
    ),
    gold_format='{"id": ..., "labels": [...]}',
    per_class=labelsets.per_label,
    per_class_title="Per label",
)
