"""Variants scored on the same gold records and compared pairwise (pure, constructed rows)."""

from __future__ import annotations

from typing import Any

import pytest

from llmlabel.core.comparison import Cost, compare, score
from llmlabel.core.evaluation import Options
from llmlabel.core.significance import holm, mcnemar_exact
from llmlabel.errors import JoinError

GOLD = [("a", "pos"), ("b", "pos"), ("c", "neg"), ("d", "neg"), ("e", "pos"), ("f", "neg")]
OPTIONS = Options(resamples=200, seed=1)


def rows(predicted: str) -> list[dict[str, Any]]:
    """One letter per gold record: p/n a label, '-' abstained."""
    result: list[dict[str, Any]] = []
    for (rid, _), mark in zip(GOLD, predicted, strict=True):
        if mark == "-":
            result.append({"id": rid, "status": "abstained", "label": None, "confidence": 0.0})
        else:
            label = "pos" if mark == "p" else "neg"
            result.append({"id": rid, "status": "labeled", "label": label, "confidence": 0.9})
    return result


def comparison_of(*variants: tuple[str, str]) -> Any:
    scored = [
        (score(name, rows(marks), GOLD, "classification", OPTIONS), {"samples": i}, Cost())
        for i, (name, marks) in enumerate(variants)
    ]
    return compare(scored, "classification", OPTIONS, alpha=0.05)


def test_pairs_list_flips_per_class_deltas_and_mcnemar() -> None:
    # gold:        p p n n p n
    c = comparison_of(("base", "ppppnn"), ("better", "ppnnpn"), ("worse", "nn-npn"))
    assert [(p.a, p.b) for p in c.pairs] == [
        ("base", "better"),
        ("base", "worse"),
        ("better", "worse"),
    ]
    base_better = c.pairs[0]
    assert base_better.right_to_wrong == ()
    assert base_better.wrong_to_right == ("c", "d", "e")
    assert base_better.mcnemar.p_value == pytest.approx(0.25)  # 2 * (1/2)^3
    assert base_better.delta("accuracy").delta == pytest.approx(3 / 6)
    f1 = {d.label: (d.a, d.b, d.delta) for d in base_better.classes}
    # base: pos P=2/4 R=2/3 -> F1 4/7; neg P=1/2 R=1/3 -> 0.4; better: all right -> 1.0
    assert f1["pos"] == pytest.approx((4 / 7, 1.0, 3 / 7))
    assert f1["neg"] == pytest.approx((0.4, 1.0, 0.6))
    better_worse = c.pairs[2]
    assert better_worse.right_to_wrong == ("a", "b", "c")  # c abstained under 'worse'
    assert better_worse.wrong_to_right == ()


def test_holm_adjusts_each_test_over_all_pairs() -> None:
    c = comparison_of(("base", "ppppnn"), ("better", "ppnnpn"), ("worse", "nn-npn"))
    raw = [p.mcnemar.p_value for p in c.pairs]
    assert raw == [mcnemar_exact(len(p.right_to_wrong), len(p.wrong_to_right)).p_value
                   for p in c.pairs]  # fmt: skip
    assert [p.mcnemar.p_adjusted for p in c.pairs] == pytest.approx(holm(raw))
    for statistic in c.statistics:
        boot = [p.delta(statistic).p_value for p in c.pairs]
        adjusted = [p.delta(statistic).p_adjusted for p in c.pairs]
        assert adjusted == pytest.approx(holm(boot))
    assert c.statistics == ("accuracy", "macro_f1", "micro_f1")


def test_leaderboard_sorts_by_accuracy_and_keeps_the_summaries() -> None:
    c = comparison_of(("base", "ppppnn"), ("better", "ppnnpn"), ("worse", "nn-npn"))
    assert [v.name for v in c.leaderboard()] == ["better", "base", "worse"]
    worse = c.variants[2]
    assert (worse.summary.records, worse.summary.abstained, worse.summary.correct) == (6, 1, 3)
    assert worse.overrides == {"samples": 2}
    assert c.records == 6 and c.correction == "holm"


def test_identical_variants_are_not_significantly_different() -> None:
    c = comparison_of(("one", "ppnnnn"), ("two", "ppnnnn"))
    (pair,) = c.pairs
    assert pair.mcnemar.p_value == 1.0 and pair.delta("accuracy").p_value == 1.0
    assert not c.significant(pair.mcnemar.p_adjusted)


def test_a_variant_missing_a_gold_record_is_a_join_error() -> None:
    with pytest.raises(JoinError, match="variant 'short'"):
        score("short", rows("ppnnnn")[:5], GOLD, "classification", OPTIONS)


def test_multi_label_variants_are_compared_with_the_kinds_metrics() -> None:
    gold = [("a", frozenset({"x"})), ("b", frozenset({"x", "y"})), ("c", frozenset())]

    def ml_rows(*labels: list[str]) -> list[dict[str, Any]]:
        return [
            {"id": rid, "status": "labeled", "label": chosen, "confidence": 1.0}
            for (rid, _), chosen in zip(gold, labels, strict=True)
        ]

    one = score("one", ml_rows(["x"], ["x"], []), gold, "multi_label", OPTIONS)
    two = score("two", ml_rows(["x"], ["x", "y"], ["y"]), gold, "multi_label", OPTIONS)
    c = compare([(one, {}, Cost()), (two, {}, Cost())], "multi_label", OPTIONS)
    assert c.statistics == ("accuracy", "micro_f1", "macro_f1", "hamming_loss")
    (pair,) = c.pairs
    assert (pair.right_to_wrong, pair.wrong_to_right) == (("c",), ("b",))
    assert {d.label for d in pair.classes} == {"x", "y"}
