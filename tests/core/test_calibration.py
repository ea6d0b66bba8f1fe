"""Calibration maps on hand-computed cases: the fits are scikit-learn's and scipy's, these check
what we ask of them and the stored maps."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from pydantic import ValidationError

from llmlabel.core import calibration
from llmlabel.core.calibration import Isotonic, Platt, Temperature, fit


def noisy(
    n: int, seed: int, levels: tuple[float, ...] | None = None
) -> tuple[list[float], list[bool]]:
    """Overconfident records: right with chance 0.3 + 0.6 * confidence."""
    rng = random.Random(seed)
    confidences = [rng.choice(levels) if levels else rng.random() for _ in range(n)]
    return confidences, [rng.random() < 0.3 + 0.6 * c for c in confidences]


def test_isotonic_pools_adjacent_violators_by_hand() -> None:
    # 0.2 right, 0.4 wrong violate the order: pooled to 0.5 over [0.2, 0.4].
    m = calibration.fit_isotonic([0.2, 0.4, 0.6, 0.8], [True, False, True, True])
    assert m.x == (0.2, 0.4, 0.6, 0.8) and m.y == (0.5, 0.5, 1.0, 1.0)
    assert m(0.5) == pytest.approx(0.75)  # linear between knots
    assert m(0.0) == 0.5 and m(1.0) == 1.0  # clipped outside


def test_isotonic_pools_equal_confidences_first() -> None:
    m = calibration.fit_isotonic([1.0, 1.0, 1.0, 0.6, 0.6], [True, True, False, True, False])
    assert m.x == (0.6, 1.0) and m.y == pytest.approx((0.5, 2 / 3))


def test_isotonic_never_decreases() -> None:
    confidences, correct = noisy(500, 3)
    m = calibration.fit_isotonic(confidences, correct)
    grid = [i / 200 for i in range(201)]
    assert all(m(a) <= m(b) for a, b in itertools.pairwise(grid))


def test_platt_with_one_confidence_fits_the_smoothed_rate() -> None:
    # 3 right, 1 wrong: Platt's targets 4/5 and 1/3, mean (3 * 0.8 + 1/3) / 4.
    m = calibration.fit_platt([0.9] * 4, [True, True, True, False])
    assert m.a == 0.0 and m(0.1) == pytest.approx((2.4 + 1 / 3) / 4)


def test_platt_stays_finite_when_separable() -> None:
    m = calibration.fit_platt([0.6, 0.6, 1.0, 1.0, 1.0], [False, False, True, True, True])
    assert math.isfinite(m.a) and math.isfinite(m.b)
    assert m(1.0) == pytest.approx(4 / 5, abs=0.02) and m(0.6) == pytest.approx(1 / 4, abs=0.02)


def test_temperature_by_hand() -> None:
    # All at 0.8 (log-odds log 4), two thirds right: sigmoid(log 4 / T) = 2/3 at T = 2.
    m = calibration.fit_temperature([0.8] * 3, [True, True, False])
    assert m.temperature == pytest.approx(2.0)
    assert m(0.8) == pytest.approx(2 / 3) and m(0.5) == pytest.approx(0.5)


def test_temperature_is_bounded_when_every_label_is_right() -> None:
    assert calibration.fit_temperature([0.9, 0.7], [True, True]).temperature == (
        calibration.MIN_TEMPERATURE
    )


@pytest.mark.parametrize("method", calibration.METHODS)
def test_every_method_lowers_the_log_loss_of_overconfident_records(method: str) -> None:
    confidences, correct = noisy(400, 11, (0.6, 0.8, 1.0))
    m = fit(method, confidences, correct)  # type: ignore[arg-type]

    def log_loss(p: list[float]) -> float:
        clipped = [min(max(v, 1e-4), 1 - 1e-4) for v in p]
        return -sum(
            math.log(v if ok else 1 - v) for v, ok in zip(clipped, correct, strict=True)
        ) / len(correct)

    assert log_loss([m(c) for c in confidences]) < log_loss(confidences)


def test_maps_round_trip_and_are_validated() -> None:
    for m in (
        Isotonic(x=(0.1, 0.9), y=(0.2, 0.8)),
        Platt(a=1.5, b=-0.2),
        Temperature(temperature=2),
    ):
        assert type(m).model_validate_json(m.model_dump_json()) == m
    with pytest.raises(ValidationError, match="non-decreasing"):
        Isotonic(x=(0.1, 0.9), y=(0.8, 0.2))
    with pytest.raises(ValidationError, match="strictly increasing"):
        Isotonic(x=(0.9, 0.1), y=(0.2, 0.8))
    with pytest.raises(ValueError, match="no records"):
        fit("isotonic", [], [])
