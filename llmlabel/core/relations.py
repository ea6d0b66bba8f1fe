"""Relation classification between a given head and tail span: scoring against gold.

The label is the relation type including its direction, as in SemEval-2010 Task 8
(``Cause-Effect(e1,e2)``: the head ``e1`` is the cause) or any label set of the user's; voting
is plain plurality. Scoring follows the SemEval-2010 Task 8 official measure: per relation (the
two directions pooled), a prediction is a hit only with the right direction; macro-F1 is the
mean F1 over the relations seen in gold or predicted, leaving out ``Other``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from llmlabel.core.labelsets import f1
from llmlabel.core.metrics import ClassScore, Outcome
from llmlabel.core.scoring import Metric, Scoring, Unscorable, single_label_predicted

OTHER = "Other"
GOLD_FORMAT = '{"id": ..., "text": ..., "head": {...}, "tail": {...}, "label": ...}'
_DIRECTION = re.compile(r"\((e1,e2|e2,e1)\)$")


def relation_of(label: str) -> str:
    """The relation without its direction: ``Cause-Effect(e2,e1)`` -> ``Cause-Effect``."""
    return _DIRECTION.sub("", label)


def gold_relation(row: Mapping[str, Any]) -> str:
    """``label``, else ``relation_directed`` (SemEval-style gold), else ``relation``."""
    for field in ("label", "relation_directed", "relation"):
        value = row.get(field)
        if isinstance(value, str) and value:
            return value
    raise Unscorable("has no relation", hint=f"relation gold rows look like {GOLD_FORMAT}")


def per_relation(outcomes: Sequence[Outcome]) -> list[ClassScore]:
    """Precision, recall and F1 per relation, directions pooled, hits need the direction."""
    gold: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for o in outcomes:
        gold[relation_of(o.gold)] += 1
        if o.predicted is not None:
            predicted[relation_of(o.predicted)] += 1
            hits[relation_of(o.gold)] += o.predicted == o.gold
    scores = []
    for relation in sorted(gold.keys() | predicted.keys()):
        precision = hits[relation] / predicted[relation] if predicted[relation] else 0.0
        recall = hits[relation] / gold[relation] if gold[relation] else 0.0
        scores.append(
            ClassScore(
                label=relation,
                precision=precision,
                recall=recall,
                f1=f1(precision, recall),
                support=gold[relation],
                predicted=predicted[relation],
            )
        )
    return scores


def macro_f1_without_other(outcomes: Sequence[Outcome]) -> float:
    scores = [s.f1 for s in per_relation(outcomes) if s.label != OTHER]
    return sum(scores) / len(scores) if scores else 0.0


SCORING = Scoring(
    gold=gold_relation,
    predicted=single_label_predicted,
    metrics=(Metric("macro_f1_excl_other", "macro-F1 excluding Other", macro_f1_without_other),),
    gold_format=GOLD_FORMAT,
    per_class=per_relation,
    per_class_title="Per relation (directions pooled)",
    confusion=True,
)
