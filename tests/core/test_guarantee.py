"""Clopper–Pearson bounds and the Learn-then-Test threshold: hand values and simulation."""

from __future__ import annotations

import random

import pytest

from llmlabel.core.guarantee import binomial_tail, clopper_pearson_lower, select_threshold
from llmlabel.core.metrics import Outcome


def outcome(i: int, confidence: float, right: bool, status: str = "labeled") -> Outcome:
    predicted = None if status != "labeled" else ("a" if right else "b")
    return Outcome(id=str(i), gold="a", predicted=predicted, confidence=confidence, status=status)  # type: ignore[arg-type]


def test_hand_values() -> None:
    # k = n: the bound solves p^n = delta.
    assert clopper_pearson_lower(10, 10, 0.05) == pytest.approx(0.05**0.1)
    assert clopper_pearson_lower(0, 10, 0.05) == 0.0
    # P(Binomial(2, 0.5) >= 1) = 3/4; P(Binomial(3, 0.9) >= 3) = 0.729
    assert binomial_tail(2, 1, 0.5) == pytest.approx(0.75)
    assert binomial_tail(3, 3, 0.9) == pytest.approx(0.729)
    assert binomial_tail(3, 0, 0.9) == 1.0 and binomial_tail(3, 4, 0.9) == 0.0
    # one-sided 95% lower bound after 9 of 10 (scipy: beta.ppf(0.05, 9, 2))
    assert clopper_pearson_lower(9, 10, 0.05) == pytest.approx(0.6058367, abs=1e-6)


def test_threshold_is_the_lowest_passing_in_fixed_sequence() -> None:
    # 30 right at 1.0, then 10 at 0.8 with 8 right, then 10 at 0.6 with 3 right.
    records = [outcome(i, 1.0, True) for i in range(30)]
    records += [outcome(100 + i, 0.8, i < 8) for i in range(10)]
    records += [outcome(200 + i, 0.6, i < 3) for i in range(10)]
    records.append(outcome(300, 0.0, False, "abstained"))
    s = select_threshold(records, target=0.8, delta=0.05)
    # 30/30: p = 0.8^30 ≈ 0.001 passes; 38/40: P(Bin(40, .8) ≥ 38) ≈ 0.008 passes;
    # 41/50: P(Bin(50, .8) ≥ 41) ≈ 0.44 fails, so testing stops there.
    assert s.threshold == 0.8 and (s.kept, s.right, s.records) == (40, 38, 51)
    assert s.coverage == pytest.approx(40 / 51)
    assert s.lower_bound == pytest.approx(clopper_pearson_lower(38, 40, 0.05))
    assert s.lower_bound is not None and s.lower_bound >= 0.8
    assert "keep confidence ≥ 0.8" in s.sentence()


def test_testing_stops_at_the_first_failure_even_if_a_lower_threshold_would_pass() -> None:
    # The top group is bad: nothing may be kept, although the whole set is 93% right.
    records = [outcome(i, 1.0, i < 15) for i in range(30)]
    records += [outcome(100 + i, 0.8, True) for i in range(200)]
    s = select_threshold(records, target=0.8, delta=0.05)
    assert s.threshold is None and s.kept == 0 and s.lower_bound is None
    assert "review everything" in s.sentence()


def test_the_guarantee_holds_in_simulation() -> None:
    """Draw calibration sets from a known population; the chosen threshold's true accuracy
    falls below the target in at most about delta of them. Keeping confidence ≥ 0.8 is just
    short of the target (0.875 < 0.88), the hardest case: a rule that keeps whatever looks
    accurate enough on the sample fails about a third of the time here."""
    rng = random.Random(0)
    levels = [(1.0, 0.95), (0.8, 0.80), (0.6, 0.6), (0.4, 0.5)]  # (confidence, true accuracy)
    target, delta, trials, failures, chosen = 0.88, 0.1, 400, 0, 0
    for _ in range(trials):
        records = []
        for i in range(300):
            confidence, accuracy = levels[rng.randrange(4)]
            records.append(outcome(i, confidence, rng.random() < accuracy))
        s = select_threshold(records, target, delta)
        if s.threshold is None:
            continue
        chosen += 1
        kept = [a for c, a in levels if c >= s.threshold]
        failures += sum(kept) / len(kept) < target
    assert chosen > trials / 4
    assert failures / trials <= delta + 0.03


def test_continuous_confidences_start_testing_where_a_pass_is_possible() -> None:
    """One record per distinct confidence (logprob confidences): the first few thresholds keep
    too few records to pass whatever their labels; testing starts at 45 records (95%, 0.1)."""
    records = [outcome(i, 1.0 - i / 1000, True) for i in range(100)]
    s = select_threshold(records, target=0.95, delta=0.1)
    assert s.threshold is not None and s.kept == 100
    # One miss among the first 45: 44 of 45 cannot show 95% (p = 0.33), and the sequence stops.
    wrong_early = [outcome(i, 1.0 - i / 1000, i != 3) for i in range(100)]
    assert select_threshold(wrong_early, target=0.95, delta=0.1).threshold is None
    # A miss after 60 right ones: 60 pass, the sequence stops at the miss.
    wrong_late = [outcome(i, 1.0 - i / 1000, i != 60) for i in range(100)]
    s = select_threshold(wrong_late, target=0.95, delta=0.1)
    assert s.kept == 60 and s.right == 60
