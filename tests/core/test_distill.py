"""Which silver records each student sees, and the learning curves' points."""

from __future__ import annotations

from llmlabel.core.distill import Fold, folds, sizes, subsample, thresholds


def test_disjoint_gold_is_scored_by_one_student_that_saw_everything() -> None:
    result = folds({"g1": "a", "g2": "b"}, {"s1": "c", "s2": "d"}, k=5)
    assert result == [Fold(("g1", "g2"), frozenset())]


def test_overlapping_gold_is_cross_fitted_by_id_and_by_text() -> None:
    gold = {f"r{i}": f"text {i}" for i in range(6)}
    silver = {**gold, "dup": "text 0", "other": "new text"}
    result = folds(gold, silver, k=3, seed=1)
    assert len(result) == 3
    assert sorted(i for f in result for i in f.gold) == sorted(gold)
    for fold in result:
        assert set(fold.gold) <= fold.excluded  # never trained on a record it scores
        assert "other" not in fold.excluded
        assert ("dup" in fold.excluded) == ("r0" in fold.gold)  # the same text under another id
    assert folds(gold, silver, k=3, seed=1) == result  # seeded


def test_more_folds_than_gold_records() -> None:
    assert len(folds({"a": "x", "b": "y"}, {"a": "x"}, k=5)) == 2


def test_sizes_are_log_spaced_and_end_with_all() -> None:
    assert sizes(1000, smallest=10, points=3) == [10, 100, 1000]
    assert sizes(38, smallest=25, points=6)[-1] == 38
    assert sizes(10, smallest=25) == [10]
    assert sizes(0) == []


def test_thresholds_start_at_zero_and_use_the_confidences() -> None:
    assert thresholds([1.0, 0.6, 1.0, 0.8]) == [0.0, 0.6, 0.8, 1.0]
    many = thresholds([i / 100 for i in range(101)], points=5)
    assert many[0] == 0.0 and many[-1] == 1.0 and len(many) <= 5
    assert thresholds([]) == [0.0]


def test_subsample_is_seeded_and_keeps_order() -> None:
    ids = [f"r{i}" for i in range(20)]
    draw = subsample(ids, 5, seed=0, name="x")
    assert draw == subsample(list(reversed(ids)), 5, seed=0, name="x")[::-1]
    assert draw == sorted(draw, key=ids.index) and len(draw) == 5
    assert subsample(ids, 50, seed=0, name="x") == ids
