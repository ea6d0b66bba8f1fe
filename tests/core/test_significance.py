"""Paired significance tests on constructed cases with known answers."""

from __future__ import annotations

import pytest

from llmlabel.core.metrics import Outcome, accuracy, macro_f1
from llmlabel.core.significance import discordant, holm, mcnemar_exact, paired_bootstrap


def outcomes(pattern: str) -> list[Outcome]:
    """'1' right, '0' wrong: record i has gold 'pos' for even i, 'neg' for odd i."""
    result = []
    for i, mark in enumerate(pattern):
        gold = "pos" if i % 2 == 0 else "neg"
        predicted = gold if mark == "1" else ("neg" if gold == "pos" else "pos")
        result.append(Outcome(id=f"r{i}", gold=gold, predicted=predicted, confidence=1.0))
    return result


@pytest.mark.parametrize(
    ("a_only", "b_only", "p"),
    [
        (1, 9, 22 / 1024),  # 2 * (C(10,0) + C(10,1)) / 2^10
        (3, 0, 0.25),  # 2 * 1/8
        (0, 6, 2 / 64),
        (5, 5, 1.0),  # 2 * 638/1024 > 1, capped
        (0, 0, 1.0),  # no discordant records: no evidence either way
    ],
)
def test_mcnemar_exact_on_hand_computed_tables(a_only: int, b_only: int, p: float) -> None:
    result = mcnemar_exact(a_only, b_only)
    assert result.p_value == pytest.approx(p, rel=1e-12)
    assert (result.a_only, result.b_only) == (a_only, b_only)


def test_mcnemar_exact_is_symmetric_and_rejects_negative_counts() -> None:
    assert mcnemar_exact(2, 11).p_value == mcnemar_exact(11, 2).p_value
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_holm_adjusts_in_input_order_and_stays_monotone() -> None:
    # sorted: 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04 -> raised to 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.02]) == [0.02]
    assert holm([]) == []


def test_discordant_lists_flips_by_id() -> None:
    a, b = outcomes("1100"), outcomes("1010")
    assert discordant(a, b) == (["r1"], ["r2"])


def test_paired_bootstrap_on_identical_variants_gives_p_one() -> None:
    a = outcomes("1101100111010110")
    deltas = paired_bootstrap(a, list(a), {"accuracy": accuracy, "macro_f1": macro_f1})
    for d in deltas.values():
        assert (d.delta, d.low, d.high, d.p_value) == (0.0, 0.0, 0.0, 1.0)
        assert d.a == d.b


def test_paired_bootstrap_finds_a_clearly_better_variant() -> None:
    a = outcomes("1000100010001000" * 2)  # 8 of 32 right
    b = outcomes("1111111011111111" * 2)  # 30 of 32 right, including all of A's
    d = paired_bootstrap(a, b, {"accuracy": accuracy}, resamples=2000, seed=3)["accuracy"]
    assert d.delta == pytest.approx(22 / 32)
    assert 0 < d.low < d.delta < d.high <= 1
    assert d.p_value == pytest.approx(1 / 2001)  # no resample came near 0


def test_paired_bootstrap_small_difference_is_not_significant() -> None:
    a = outcomes("1101101101101101")
    b = outcomes("1101101101101111")  # one record better
    d = paired_bootstrap(a, b, {"accuracy": accuracy}, resamples=1000, seed=0)["accuracy"]
    assert d.delta == pytest.approx(1 / 16)
    assert d.low <= 0 <= d.high
    assert d.p_value > 0.2


def test_paired_bootstrap_is_seeded_and_antisymmetric() -> None:
    a, b = outcomes("1101100111010110"), outcomes("1111100101110111")
    stats = {"accuracy": accuracy, "macro_f1": macro_f1}
    first = paired_bootstrap(a, b, stats, resamples=300, seed=7)
    assert first == paired_bootstrap(a, b, stats, resamples=300, seed=7)
    reverse = paired_bootstrap(b, a, stats, resamples=300, seed=7)
    for name in stats:
        assert reverse[name].delta == pytest.approx(-first[name].delta)
        assert reverse[name].p_value == pytest.approx(first[name].p_value)
        assert reverse[name].low == pytest.approx(-first[name].high)


def test_paired_tests_refuse_unpaired_records() -> None:
    with pytest.raises(ValueError, match="same records"):
        paired_bootstrap(outcomes("11"), outcomes("110"), {"accuracy": accuracy})
    with pytest.raises(ValueError, match="same records"):
        discordant(outcomes("11"), list(reversed(outcomes("11"))))
