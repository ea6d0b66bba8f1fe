"""Classification metrics on small cases computed by hand, plus properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmlabel.core.metrics import (
    Outcome,
    _quantile,
    accuracy,
    bootstrap,
    classes,
    confusion_matrix,
    macro_f1,
    micro_f1,
    per_class,
)


def outcome(gold: str, predicted: str | None, confidence: float = 1.0) -> Outcome:
    status = "labeled" if predicted is not None else "abstained"
    return Outcome(
        id=f"{gold}-{predicted}",
        gold=gold,
        predicted=predicted,
        confidence=confidence if predicted is not None else 0.0,
        status=status,
    )


# gold a: 2 right, 1 called b; gold b: 2 right; gold c: 1 called a, 1 abstained.
CASE = [
    outcome("a", "a"),
    outcome("a", "b"),
    outcome("b", "b"),
    outcome("b", "b"),
    outcome("c", "a"),
    outcome("c", None),
    outcome("a", "a"),
]


def test_accuracy_counts_abstentions_as_wrong() -> None:
    assert accuracy(CASE) == 4 / 7
    assert accuracy([]) == 0.0


def test_per_class_precision_recall_f1_support() -> None:
    a, b, c = per_class(CASE)
    assert (a.label, a.precision, a.recall, a.f1, a.support, a.predicted) == (
        "a",
        2 / 3,
        2 / 3,
        pytest.approx(2 / 3),
        3,
        3,
    )
    assert (b.precision, b.recall, b.f1, b.support, b.predicted) == (2 / 3, 1.0, 0.8, 2, 3)
    # c is never predicted: precision 0/0 is 0; its abstention is a false negative.
    assert (c.precision, c.recall, c.f1, c.support, c.predicted) == (0.0, 0.0, 0.0, 2, 0)


def test_macro_f1_is_the_unweighted_mean_over_classes() -> None:
    assert macro_f1(CASE) == pytest.approx((2 / 3 + 0.8 + 0.0) / 3)


def test_micro_f1_pools_counts_so_abstentions_lower_recall_only() -> None:
    precision, recall = 4 / 6, 4 / 7  # right / labeled, right / all
    assert micro_f1(CASE) == pytest.approx(2 * precision * recall / (precision + recall))
    assert micro_f1(CASE) == pytest.approx(8 / 13)


def test_a_label_predicted_but_never_gold_is_a_class_with_f1_zero() -> None:
    cases = [outcome("a", "a"), outcome("a", "z")]
    assert classes(cases) == ("a", "z")
    a, z = per_class(cases)
    assert (a.precision, a.recall) == (1.0, 0.5)
    assert (z.precision, z.recall, z.f1, z.support, z.predicted) == (0.0, 0.0, 0.0, 0, 1)
    assert macro_f1(cases) == pytest.approx((2 / 3 + 0) / 2)


def test_confusion_matrix_keeps_every_record() -> None:
    failed = Outcome(id="f", gold="b", predicted=None, confidence=0.0, status="failed")
    matrix = confusion_matrix([*CASE, failed])
    assert matrix.labels == ("a", "b", "c")
    assert matrix.counts == ((2, 1, 0), (0, 2, 0), (1, 0, 0))
    assert matrix.abstained == (0, 0, 1)
    assert matrix.failed == (0, 1, 0)
    total = sum(map(sum, matrix.counts)) + sum(matrix.abstained) + sum(matrix.failed)
    assert total == len(CASE) + 1


def test_quantile_interpolates_like_numpy() -> None:
    assert _quantile([0.0, 1.0, 2.0, 3.0], 0.5) == 1.5
    assert _quantile([0.0, 1.0, 2.0, 3.0], 0.025) == pytest.approx(0.075)
    assert _quantile([5.0], 0.975) == 5.0


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    stats = {"accuracy": accuracy, "macro_f1": macro_f1}
    first = bootstrap(CASE * 5, stats, resamples=200, seed=3)
    assert first == bootstrap(CASE * 5, stats, resamples=200, seed=3)
    assert first != bootstrap(CASE * 5, stats, resamples=200, seed=4)
    for name, interval in first.items():
        assert interval.low <= interval.value <= interval.high, name
        assert 0.0 <= interval.low < interval.high <= 1.0
    assert first["accuracy"].value == 4 / 7


def test_bootstrap_of_all_right_records_is_a_point() -> None:
    right = [outcome("a", "a"), outcome("b", "b")]
    interval = bootstrap(right, {"accuracy": accuracy}, resamples=50)["accuracy"]
    assert (interval.value, interval.low, interval.high) == (1.0, 1.0, 1.0)


def test_bootstrap_needs_a_resample() -> None:
    with pytest.raises(ValueError, match="resamples"):
        bootstrap(CASE, {"accuracy": accuracy}, resamples=0)


labels = st.sampled_from(["a", "b", "c"])
outcomes = st.lists(
    st.builds(outcome, labels, st.one_of(st.none(), labels), st.floats(0, 1)), min_size=1
)


@given(outcomes)
def test_scores_stay_in_the_unit_interval(cases: list[Outcome]) -> None:
    for value in (accuracy(cases), macro_f1(cases), micro_f1(cases)):
        assert 0.0 <= value <= 1.0
    for score in per_class(cases):
        assert 0.0 <= score.f1 <= 1.0
        assert min(score.precision, score.recall) <= score.f1 + 1e-12
        assert score.f1 <= max(score.precision, score.recall) + 1e-12


@given(outcomes)
def test_without_abstentions_micro_f1_is_accuracy(cases: list[Outcome]) -> None:
    labeled = [c for c in cases if c.predicted is not None] or [outcome("a", "a")]
    assert math.isclose(micro_f1(labeled), accuracy(labeled))


@given(outcomes)
def test_support_adds_up_to_the_records(cases: list[Outcome]) -> None:
    assert sum(s.support for s in per_class(cases)) == len(cases)
    assert sum(s.predicted for s in per_class(cases)) == sum(c.predicted is not None for c in cases)
