"""Adaptive self-consistency stopping rules, checked against hand-computed values."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest

from llmlabel.core.adaptive import (
    beta_above_half,
    decided,
    per_label_settled,
    plurality_settled,
    projected_share,
)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 1, Fraction(1, 2)),  # uniform
        (3, 1, Fraction(7, 8)),  # density 3x^2: 1 - (1/2)^3
        (4, 1, Fraction(15, 16)),
        (1, 3, Fraction(1, 8)),
        (5, 2, Fraction(57, 64)),  # 1 - P(Bin(6, 1/2) >= 5) = 1 - 7/64
        (2, 2, Fraction(1, 2)),  # symmetric
    ],
)
def test_beta_tail_matches_hand_computed_values(a: int, b: int, expected: Fraction) -> None:
    assert beta_above_half(a, b) == pytest.approx(float(expected), abs=1e-12)


def test_beta_tail_is_symmetric_and_monotone() -> None:
    for a in range(1, 12):
        for b in range(1, 12):
            assert beta_above_half(a, b) + beta_above_half(b, a) == pytest.approx(1.0)
            assert beta_above_half(a + 1, b) > beta_above_half(a, b)


def test_beta_tail_agrees_with_numeric_integration() -> None:
    a, b, steps = 6, 3, 200_000
    norm = (a + b - 1) * comb(a + b - 2, a - 1)  # 1 / B(a, b) for integer a, b
    h = 0.5 / steps
    xs = (0.5 + (i + 0.5) * h for i in range(steps))
    tail = sum(x ** (a - 1) * (1 - x) ** (b - 1) for x in xs) * h * norm
    assert beta_above_half(a, b) == pytest.approx(tail, rel=1e-6)


def test_beta_parameters_below_one_are_rejected() -> None:
    with pytest.raises(ValueError):
        beta_above_half(0, 2)


def test_unbeatable_needs_a_strict_lead_over_what_is_left() -> None:
    assert decided(5, 1, 3, None)  # runner-up reaches 4 at best
    assert not decided(5, 2, 3, None)  # could tie at 5
    assert decided(3, 0, 0, None)


def test_posterior_rule_stops_unanimous_records_early() -> None:
    # 3 of 3 agreeing: P = 15/16 >= 0.9; 2 of 2: 7/8 < 0.9
    assert plurality_settled(["a", "a", "a"], remaining=7, level=0.9)
    assert not plurality_settled(["a", "a"], remaining=8, level=0.9)
    assert not plurality_settled(["a", "a", "a"], remaining=7, level=None)  # unbeatable only
    assert plurality_settled(["a", "a", "b", "a", "a", "a"], remaining=4, level=0.9)


def test_split_votes_keep_sampling() -> None:
    assert not plurality_settled(["a", "b", "a", "b"], remaining=6, level=0.9)
    assert not plurality_settled(["a", "b", "a", "b"], remaining=0, level=0.9)  # a tie
    assert plurality_settled(["a", "b", "a"], remaining=0, level=None)


def test_invalid_samples_vote_for_nothing() -> None:
    assert not plurality_settled([None, None, "a"], remaining=7, level=0.9)
    assert not plurality_settled([None, None, None], remaining=7, level=0.9)
    assert plurality_settled([None, None], remaining=0, level=0.9)


def test_multi_label_settles_when_every_label_decision_does() -> None:
    agree = [frozenset({"x"}), frozenset({"x"}), frozenset({"x"})]
    assert per_label_settled(agree, remaining=7, level=0.9)
    split = [frozenset({"x", "y"}), frozenset({"x"}), frozenset({"x", "y"})]
    assert not per_label_settled(split, remaining=7, level=0.9)  # y is 2 yes / 1 no
    assert per_label_settled(split, remaining=0, level=None)
    assert not per_label_settled([frozenset(), None], remaining=5, level=0.9)


def test_projected_share_adds_the_undrawn_votes_at_the_posterior_mean() -> None:
    # 3 of 3 with a budget of 10: 3 drawn + 7 at (3 + 1) / (3 + 2) = 0.8 -> 8.6 / 10
    assert projected_share(1.0, 3, 10) == pytest.approx(0.86)
    # 2 of 3 agree: mean (2 + 1) / 5 = 0.6 -> (2 + 7 * 0.6) / 10
    assert projected_share(2 / 3, 3, 10) == pytest.approx(0.62)
    assert projected_share(0.7, 10, 10) == 0.7  # the whole budget drawn: the share itself
    assert projected_share(0.5, 0, 10) == 0.5


@pytest.mark.parametrize("drawn", range(1, 10))
def test_projected_share_lies_between_the_share_and_the_prior_mean(drawn: int) -> None:
    for agree in range(drawn + 1):
        share = agree / drawn
        projected = projected_share(share, drawn, 10)
        posterior_mean = (agree + 1) / (drawn + 2)
        assert min(share, posterior_mean) - 1e-12 <= projected <= max(share, posterior_mean) + 1e-12
