"""Cross-fitting: ECE before/after on held-out records of constructed data, routing rows."""

from __future__ import annotations

import pytest

from llmlabel.core.calibration import Isotonic, Temperature
from llmlabel.core.crossfit import Router, check, cross_fit
from llmlabel.core.metrics import Outcome


def overconfident(n: int) -> list[Outcome]:
    """Confidence 0.9 but 60% right, and confidence 0.6 but 30% right; plus n/20 abstained."""
    records = [Outcome(f"x{i:04}", "a", None, 0.0, "abstained") for i in range(n // 20)]
    for i in range(n):
        confidence, rate = (0.9, 6) if i % 2 else (0.6, 3)
        right = (i // 2) % 10 < rate
        records.append(Outcome(f"r{i:04}", "a", "a" if right else "b", confidence))
    return records


@pytest.mark.parametrize("method", ["isotonic", "platt", "temperature"])
def test_calibration_lowers_ece_on_held_out_records(method: str) -> None:
    fitted = cross_fit(overconfident(2000), method, target=None, delta=0.05)  # type: ignore[arg-type]
    q = fitted.held_out
    assert q.records == 1050 and 950 <= fitted.fitted_on <= 1050  # the fit part's labeled
    assert q.ece_before == pytest.approx(0.3 * 20 / 21, abs=0.03)  # both levels 0.3 too sure
    bound = 0.03 if method != "temperature" else 0.15  # one parameter cannot fix two levels
    assert q.ece_after < bound and q.brier_after < q.brier_before
    assert fitted.selection is None and len(fitted.used_ids) == 2100


def test_the_split_is_seeded_and_ignores_record_order() -> None:
    records = overconfident(400)
    a = cross_fit(records, "isotonic", target=0.5, delta=0.1, seed=3)
    b = cross_fit(list(reversed(records)), "isotonic", target=0.5, delta=0.1, seed=3)
    c = cross_fit(records, "isotonic", target=0.5, delta=0.1, seed=4)
    assert a == b and a.map != c.map


def test_the_threshold_is_chosen_on_calibrated_held_out_confidences() -> None:
    fitted = cross_fit(overconfident(2000), "isotonic", target=0.55, delta=0.05)
    s = fitted.selection
    assert s is not None and s.records == 1050
    # Only the 0.9 group (calibrated to about 0.6) reaches 55%: its calibrated value is kept.
    assert s.threshold == pytest.approx(0.6, abs=0.05) and s.kept == pytest.approx(500, abs=40)


def test_too_few_records_to_split() -> None:
    with pytest.raises(ValueError, match="nothing to measure on"):
        cross_fit(overconfident(1), "isotonic", target=None, delta=0.05)
    with pytest.raises(ValueError, match="strictly between"):
        cross_fit(overconfident(10), "isotonic", target=None, delta=0.05, holdout=1.0)


def test_router_writes_raw_and_calibrated_confidence_and_a_route() -> None:
    router = Router(Temperature(temperature=2.0), threshold=0.6)
    sure = {"status": "labeled", "confidence": 0.8}
    router.apply(sure)
    assert sure == {"status": "labeled", "confidence": 0.666667, "confidence_raw": 0.8,
                    "route": "keep"}  # fmt: skip
    unsure = {"status": "labeled", "confidence": 0.6}
    router.apply(unsure)
    assert unsure["route"] == "review" and unsure["confidence"] == pytest.approx(0.55, abs=0.01)
    failed = {"status": "failed", "confidence": 0.0}
    router.apply(failed)
    assert failed == {"status": "failed", "confidence": 0.0, "confidence_raw": 0.0,
                      "route": "review"}  # fmt: skip
    no_threshold = {"status": "labeled", "confidence": 1.0}
    Router(Temperature(temperature=1.0)).apply(no_threshold)
    assert no_threshold["route"] == "review"


def test_check_leaves_out_the_records_the_file_was_fitted_on() -> None:
    records = overconfident(400)
    fitted = cross_fit(records[:220], "isotonic", target=0.5, delta=0.1)
    threshold = fitted.selection.threshold if fitted.selection else None
    result = check(
        records,
        Router(fitted.map, threshold),
        used_ids=frozenset(fitted.used_ids),
        target=0.5,
        delta=0.1,
    )
    assert result.left_out == 220 and result.quality.records == 200
    assert result.quality.ece_after < result.quality.ece_before
    with pytest.raises(ValueError, match="every one of these records"):
        check(records[:220], Router(fitted.map), used_ids=frozenset(fitted.used_ids),
              target=None, delta=0.1)  # fmt: skip


def test_router_rounds_like_the_raw_confidence() -> None:
    router = Router(Isotonic(x=(0.0, 1.0), y=(0.0, 1 / 3)))
    assert router.confidence(1.0) == 0.333333
