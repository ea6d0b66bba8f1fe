"""Calibration, Brier, AUROC and selective prediction on hand-computed cases, plus properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmlabel.core.metrics import Outcome
from llmlabel.core.reliability import auroc, brier, coverage_curve, ece, selective


def scored(confidence: float, right: bool) -> Outcome:
    return Outcome(id="x", gold="a", predicted="a" if right else "b", confidence=confidence)


ABSTAINED = Outcome(id="x", gold="a", predicted=None, confidence=0.0, status="abstained")
FOUR = [scored(0.95, True), scored(0.95, False), scored(0.55, True), scored(0.15, False)]


def test_ece_equal_width() -> None:
    result = ece(FOUR, bins=10, binning="equal_width")
    # bins [0.9, 1]: conf .95 acc .5; [0.5, 0.6): conf .55 acc 1; [0.1, 0.2): conf .15 acc 0
    assert result.ece == pytest.approx((2 * 0.45 + 0.45 + 0.15) / 4)
    assert [(b.low, b.high, b.count) for b in result.bins] == [
        (0.1, 0.2, 1),
        (0.5, 0.6, 1),
        (0.9, 1.0, 2),
    ]
    assert result.bins[2].confidence == pytest.approx(0.95)
    assert result.bins[2].accuracy == 0.5


def test_ece_equal_mass() -> None:
    result = ece(FOUR, bins=2, binning="equal_mass")
    # {.15, .55}: conf .35 acc .5; {.95, .95}: conf .95 acc .5
    assert result.ece == pytest.approx((2 * 0.15 + 2 * 0.45) / 4)
    assert [(b.low, b.high, b.count) for b in result.bins] == [(0.15, 0.55, 2), (0.95, 0.95, 2)]


def test_equal_width_bin_edges() -> None:
    edges = [scored(c, True) for c in (0.0, 0.7, 0.3, 1.0)]
    bins = ece(edges, bins=10).bins
    assert [(b.low, b.count) for b in bins] == [(0.0, 1), (0.3, 1), (0.7, 1), (0.9, 1)]


def test_equal_mass_never_splits_equal_confidences() -> None:
    tied = [scored(0.8, True)] * 3 + [scored(0.8, False)] * 3 + [scored(1.0, True)] * 2
    result = ece(tied, bins=4, binning="equal_mass")
    assert [b.count for b in result.bins] == [6, 2]
    assert result.ece == pytest.approx(6 / 8 * 0.3)


def test_abstentions_take_part_with_confidence_zero() -> None:
    result = ece([ABSTAINED, scored(1.0, True)], bins=10)
    assert [(b.low, b.count, b.accuracy) for b in result.bins] == [(0.0, 1, 0.0), (0.9, 1, 1.0)]
    assert result.ece == 0.0
    assert brier([ABSTAINED]) == 0.0


def test_brier() -> None:
    assert brier(FOUR) == pytest.approx((0.05**2 + 0.95**2 + 0.45**2 + 0.15**2) / 4)
    assert brier([scored(1.0, False)]) == 1.0


RANKED = [scored(0.9, True), scored(0.8, True), scored(0.5, True), scored(0.7, False),
          scored(0.5, False)]  # fmt: skip


def test_auroc_counts_ties_as_half() -> None:
    # right vs wrong pairs: .9 and .8 beat both; .5 loses to .7 and ties .5
    assert auroc(RANKED) == pytest.approx((2 + 2 + 0.5) / 6)


def test_auroc_of_perfect_and_reversed_rankers() -> None:
    assert auroc([scored(0.9, True), scored(0.6, True), scored(0.5, False)]) == 1.0
    assert auroc([scored(0.1, True), scored(0.6, False), scored(0.5, False)]) == 0.0
    assert auroc([scored(0.5, True), scored(0.5, False)]) == 0.5


def test_auroc_is_undefined_when_all_right_or_all_wrong() -> None:
    assert auroc([scored(0.9, True), scored(0.2, True)]) is None
    assert auroc([scored(0.9, False)]) is None


def test_coverage_curve() -> None:
    curve = coverage_curve(RANKED)
    assert [(p.threshold, p.kept, p.coverage) for p in curve] == [
        (0.9, 1, 0.2),
        (0.8, 2, 0.4),
        (0.7, 3, 0.6),
        (0.5, 5, 1.0),
    ]
    assert [p.accuracy for p in curve] == pytest.approx([1.0, 1.0, 2 / 3, 3 / 5])


def test_selective_takes_the_lowest_threshold_reaching_the_target() -> None:
    curve = coverage_curve(RANKED)
    chosen = selective(curve, 0.95)
    assert chosen.point is not None
    assert (chosen.point.threshold, chosen.point.coverage) == (0.8, 0.4)
    assert chosen.sentence().startswith("keep 40% of records at ≥95% accuracy (confidence ≥ 0.8")
    assert selective(curve, 0.6).point == curve[-1]


def test_selective_checks_every_threshold_not_only_a_prefix() -> None:
    # accuracy climbs as coverage grows: 0, 1/2, 2/3, 3/4
    dip = [scored(0.9, False), scored(0.8, True), scored(0.7, True), scored(0.6, True)]
    chosen = selective(coverage_curve(dip), 0.7)
    assert chosen.point is not None and chosen.point.threshold == 0.6


def test_selective_says_when_no_threshold_reaches_the_target() -> None:
    chosen = selective(coverage_curve([scored(0.9, False), scored(0.5, True)]), 0.95)
    assert chosen.point is None
    assert chosen.best is not None and chosen.best.threshold == 0.5
    assert chosen.sentence().startswith("no confidence threshold reaches 95% accuracy (best: 50.0%")


cases = st.lists(st.builds(scored, st.floats(0, 1), st.booleans()), min_size=1, max_size=60)
binnings = st.sampled_from(["equal_width", "equal_mass"])


@given(cases, binnings, st.integers(1, 20))
def test_ece_is_in_the_unit_interval_and_bins_hold_every_record(
    records: list[Outcome], binning: str, bins: int
) -> None:
    result = ece(records, bins, binning)  # type: ignore[arg-type]
    assert 0.0 <= result.ece <= 1.0
    assert sum(b.count for b in result.bins) == len(records)
    assert len(result.bins) <= bins


@given(st.lists(st.booleans(), min_size=1), binnings, st.integers(1, 20))
def test_perfect_confidence_has_no_calibration_error(
    rights: list[bool], binning: str, bins: int
) -> None:
    perfect = [scored(1.0 if right else 0.0, right) for right in rights]
    assert ece(perfect, bins, binning).ece == 0.0  # type: ignore[arg-type]
    assert brier(perfect) == 0.0
    assert auroc(perfect) in (None, 1.0)


@given(cases, st.randoms(), st.integers(1, 20))
def test_equal_mass_ece_does_not_depend_on_record_order(
    records: list[Outcome],
    rnd,
    bins: int,  # type: ignore[no-untyped-def]
) -> None:
    shuffled = records[:]
    rnd.shuffle(shuffled)
    assert ece(shuffled, bins, "equal_mass").ece == pytest.approx(
        ece(records, bins, "equal_mass").ece
    )


@given(cases)
def test_auroc_matches_counting_every_pair(records: list[Outcome]) -> None:
    right = [r.confidence for r in records if r.correct]
    wrong = [r.confidence for r in records if not r.correct]
    pairs = [(r > w) + 0.5 * (r == w) for r in right for w in wrong]
    if not pairs:
        assert auroc(records) is None
    else:
        assert auroc(records) == pytest.approx(sum(pairs) / len(pairs))


@given(cases)
def test_coverage_curve_ends_with_every_record(records: list[Outcome]) -> None:
    curve = coverage_curve(records)
    assert curve[-1].kept == len(records) and curve[-1].coverage == 1.0
    assert curve[-1].accuracy == pytest.approx(sum(r.correct for r in records) / len(records))
    assert all(a.threshold > b.threshold and a.kept < b.kept for a, b in itertools.pairwise(curve))
    assert 0.0 <= brier(records) <= 1.0
