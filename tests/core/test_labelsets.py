"""Set-valued metrics (multi-label) by hand and against scikit-learn; relation scoring."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import f1_score
from sklearn.metrics import hamming_loss as sk_hamming
from sklearn.preprocessing import MultiLabelBinarizer

from llmlabel.core import labelsets
from llmlabel.core.metrics import Outcome
from llmlabel.core.relations import gold_relation, macro_f1_without_other, per_relation
from llmlabel.core.scoring import Unscorable


def outcome(gold: object, predicted: object) -> Outcome:
    labeled = predicted is not None
    return Outcome(
        "x", gold, predicted, 1.0 if labeled else 0.0, "labeled" if labeled else "failed"
    )


def sets(*labels: str) -> frozenset[str]:
    return frozenset(labels)


# a: gold 2, predicted 2, hit 1; b: gold 2, predicted 1, hit 1; c: gold 0, predicted 1.
CASE = [
    outcome(sets("a", "b"), sets("a", "c")),
    outcome(sets("a"), sets("b")),
    outcome(sets("b"), None),
]


def test_multilabel_metrics_by_hand() -> None:
    assert labelsets.micro_f1(CASE) == pytest.approx(2 * 1 / 3 * 1 / 4 / (1 / 3 + 1 / 4))
    # a: P 0/1 R 0/2; b: P 0/1, R 0/2 ... computed below from counts
    scores = {s.label: s for s in labelsets.per_label(CASE)}
    assert (scores["a"].precision, scores["a"].recall) == (1.0, 0.5)
    assert (scores["b"].precision, scores["b"].recall) == (0.0, 0.0)
    assert (scores["c"].support, scores["c"].predicted) == (0, 1)
    assert labelsets.macro_f1(CASE) == pytest.approx((2 / 3 + 0 + 0) / 3)
    # wrong decisions: {b, c}, {a, b}, {b} = 5 of 3 records x 3 labels
    assert labelsets.hamming_loss(CASE) == pytest.approx(5 / 9)


@pytest.mark.parametrize("seed", range(10))
def test_multilabel_metrics_match_scikit_learn(seed: int) -> None:
    rnd = random.Random(seed)
    labels = ["a", "b", "c", "d"]
    gold = [sets(*rnd.sample(labels, rnd.randint(0, 3))) for _ in range(30)]
    pred = [sets(*rnd.sample(labels, rnd.randint(0, 3))) for _ in range(30)]
    outcomes = [outcome(g, p) for g, p in zip(gold, pred, strict=True)]
    binarize = MultiLabelBinarizer(classes=labels).fit([labels])
    y_true, y_pred = binarize.transform(gold), binarize.transform(pred)
    assert labelsets.micro_f1(outcomes) == pytest.approx(f1_score(y_true, y_pred, average="micro"))
    assert labelsets.hamming_loss(outcomes) == pytest.approx(sk_hamming(y_true, y_pred))
    seen = [i for i, label in enumerate(labels) if y_true[:, i].any() or y_pred[:, i].any()]
    macro = f1_score(y_true[:, seen], y_pred[:, seen], average="macro", zero_division=0)
    assert labelsets.macro_f1(outcomes) == pytest.approx(macro)


def test_relation_gold_prefers_label_then_the_directed_relation() -> None:
    row = {"relation": "Cause-Effect", "relation_directed": "Cause-Effect(e2,e1)"}
    assert gold_relation(row) == "Cause-Effect(e2,e1)"
    assert gold_relation({**row, "label": "Other"}) == "Other"
    assert gold_relation({"relation": "Other"}) == "Other"
    with pytest.raises(Unscorable, match="has no relation"):
        gold_relation({"text": "x"})


def test_relation_macro_f1_pools_directions_needs_them_right_and_leaves_out_other() -> None:
    cases = [
        outcome("CE(e1,e2)", "CE(e1,e2)"),  # hit
        outcome("CE(e1,e2)", "CE(e2,e1)"),  # right relation, wrong direction: a miss
        outcome("CW(e2,e1)", "CW(e2,e1)"),  # hit
        outcome("Other", "CW(e1,e2)"),
        outcome("CW(e1,e2)", None),
    ]
    scores = {s.label: s for s in per_relation(cases)}
    assert (scores["CE"].precision, scores["CE"].recall, scores["CE"].support) == (0.5, 0.5, 2)
    assert (scores["CW"].precision, scores["CW"].recall) == (0.5, 0.5)
    assert (scores["Other"].precision, scores["Other"].recall) == (0.0, 0.0)
    assert macro_f1_without_other(cases) == pytest.approx(0.5)
