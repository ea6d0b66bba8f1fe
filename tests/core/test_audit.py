"""Confident learning on vote distributions, on cases computed by hand."""

from __future__ import annotations

import pytest

from llmlabel.core.audit import Audited, audit, distribution, thresholds


def rec(record_id: str, given: str, votes: dict[str, int], invalid: int = 0) -> Audited:
    return Audited(record_id, given, distribution(votes, invalid), votes)


# p(a), p(b) per record; thresholds: t_a = mean(1, 2/3, 0) = 5/9, t_b = mean(1, 2/3, 0) = 5/9
RECORDS = [
    rec("r1", "a", {"a": 3}),
    rec("r2", "a", {"a": 2, "b": 1}),
    rec("r3", "a", {"b": 3}),
    rec("r4", "b", {"b": 3}),
    rec("r5", "b", {"a": 1, "b": 2}),
    rec("r6", "b", {"a": 2}, invalid=1),
    Audited("r7", "a", {}, {}),  # the model abstained
]


def test_distribution_is_the_share_of_all_samples() -> None:
    assert distribution({"a": 2}, invalid=1) == pytest.approx({"a": 2 / 3})
    assert distribution({"a": 2, "b": 1, "c": 0}) == pytest.approx({"a": 2 / 3, "b": 1 / 3})
    assert distribution({}, invalid=3) == {}


def test_calibrated_distribution_gives_the_leader_its_calibrated_confidence() -> None:
    assert distribution({"a": 2, "b": 1}, leader="a", calibrated=0.9) == pytest.approx(
        {"a": 0.9, "b": 0.1}
    )
    assert distribution({"a": 2, "b": 1, "c": 1}, leader="a", calibrated=0.6) == pytest.approx(
        {"a": 0.6, "b": 0.2, "c": 0.2}
    )
    assert distribution({"a": 3}, leader="a", calibrated=0.8) == pytest.approx({"a": 0.8})
    # a tie broken for "b" by the task's label order: the row's label leads
    assert distribution({"a": 1, "b": 1}, leader="b", calibrated=0.7) == pytest.approx(
        {"a": 0.3, "b": 0.7}
    )


def test_per_class_thresholds_are_the_mean_self_confidence() -> None:
    cut = thresholds(RECORDS, ["a", "b", "c"])
    assert cut == pytest.approx({"a": 5 / 9, "b": 5 / 9, "c": 1.0})


def test_flags_the_off_diagonal_of_the_confident_joint_by_margin() -> None:
    result = audit(RECORDS, ["a", "b"])
    assert [(f.id, f.given, f.suggested) for f in result.flags] == [
        ("r3", "a", "b"),
        ("r6", "b", "a"),
    ]
    assert [f.margin for f in result.flags] == pytest.approx([1.0, 2 / 3])
    assert result.flags[1].p_given == 0.0 and result.flags[1].threshold == pytest.approx(5 / 9)
    assert result.joint == {("a", "a"): 2, ("a", "b"): 1, ("b", "b"): 2, ("b", "a"): 1}
    assert (result.records, result.unscored) == (7, 1)


def test_a_fixed_threshold_replaces_the_per_class_ones() -> None:
    result = audit(RECORDS, ["a", "b"], threshold=0.9)
    assert [f.id for f in result.flags] == ["r3"]
    assert result.joint == {("a", "a"): 1, ("a", "b"): 1, ("b", "b"): 1}
    assert result.thresholds == {"a": 0.9, "b": 0.9}


def test_ties_prefer_the_given_label_then_the_label_order() -> None:
    even = {"a": 0.5, "b": 0.5}
    records = [Audited("x", "b", even, {}), Audited("y", "c", even, {})]
    result = audit(records, ["a", "b", "c"], threshold=0.5)
    assert [(f.id, f.suggested) for f in result.flags] == [("y", "a")]
    assert result.labels == ("a", "b", "c")


def test_equal_margins_rank_by_confidence_then_id() -> None:
    records = [
        Audited("z", "a", {"b": 1.0}, {}),
        Audited("m", "a", {"b": 0.8, "a": 0.0}, {}),
        Audited("k", "a", {"b": 1.0}, {}),
        Audited("q", "a", {"a": 1.0}, {}),
    ]
    assert [f.id for f in audit(records, threshold=0.5).flags] == ["k", "z", "m"]


def test_nothing_scored_flags_nothing() -> None:
    result = audit([Audited("r", "a", {}, {})])
    assert result.flags == [] and result.unscored == 1 and result.thresholds == {"a": 1.0}
