"""Fit a calibration map on one part of a gold split, and judge it on the other.

``cross_fit`` shuffles the scored records (seeded, independent of file order), fits the map on
the labeled records of the fit part, and uses only the held-out part to report ECE and Brier
before and after and to choose the keep/review threshold. So the "after" numbers are never
measured on the records the map was fitted on, and the threshold's guarantee holds: the
held-out records are independent of the map whose confidences they threshold.

``Router`` is what a run does with the result: calibrate each row's confidence, keep the
original as ``confidence_raw`` and route the row to ``keep`` or ``review``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.core import reliability
from llmlabel.core.calibration import CalibrationMap, Method, fit
from llmlabel.core.guarantee import Selection, clopper_pearson_lower, select_threshold
from llmlabel.core.metrics import Outcome

DIGITS = 6
"""Calibrated confidences are rounded as raw ones are, in rows and when choosing thresholds."""


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BeforeAfter(_Value):
    """Calibration quality on records the map was not fitted on."""

    records: int
    bins: int
    ece_before: float
    """Equal-width bins, every record (abstained and failed: wrong at confidence 0)."""
    ece_after: float
    brier_before: float
    brier_after: float


class CrossFit(_Value):
    map: CalibrationMap
    fitted_on: int
    """Labeled records of the fit part (the map's training data)."""
    held_out: BeforeAfter
    selection: Selection | None
    """The threshold chosen on the held-out part; None when no target was asked for."""
    used_ids: tuple[str, ...]
    """Every record id that fitted the map or chose the threshold, sorted."""


class CalibrationCheck(_Value):
    """A calibration file judged on new gold records (``llmlabel eval --calibration``)."""

    quality: BeforeAfter
    left_out: int
    """Records left out because the calibration file was fitted or chosen on them."""
    threshold: float | None
    target: float | None
    kept: int
    right: int
    lower_bound: float | None = Field(None, description="(1 − δ) Clopper–Pearson, if kept")

    @property
    def coverage(self) -> float:
        return self.kept / self.quality.records if self.quality.records else 0.0


@dataclass(frozen=True)
class Router:
    """Calibrate confidences with ``map``; keep labeled rows at or above ``threshold``."""

    map: CalibrationMap
    threshold: float | None = None

    def confidence(self, raw: float) -> float:
        return round(self.map(raw), DIGITS)

    def keeps(self, status: str, confidence: float) -> bool:
        return status == "labeled" and self.threshold is not None and confidence >= self.threshold

    def apply(self, row: dict[str, Any]) -> None:
        """Add ``confidence_raw`` and ``route`` to an output row; ``confidence`` becomes the
        calibrated one. Abstained and failed rows keep confidence 0 and go to review."""
        raw = row["confidence"]
        labeled = row["status"] == "labeled"
        confidence = self.confidence(raw) if labeled else raw
        row["confidence_raw"] = raw
        row["confidence"] = confidence
        row["route"] = "keep" if self.keeps(row["status"], confidence) else "review"

    def outcomes(self, outcomes: Sequence[Outcome]) -> list[Outcome]:
        """The outcomes with calibrated confidences (unlabeled ones stay at 0)."""
        return [
            dataclasses.replace(o, confidence=self.confidence(o.confidence))
            if o.status == "labeled"
            else o
            for o in outcomes
        ]


def cross_fit(
    outcomes: Sequence[Outcome],
    method: Method,
    *,
    target: float | None,
    delta: float,
    holdout: float = 0.5,
    seed: int = 0,
    bins: int = 10,
) -> CrossFit:
    """Fit on ``1 - holdout`` of the records, measure and choose the threshold on the rest."""
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must lie strictly between 0 and 1, not {holdout}")
    ordered = sorted(outcomes, key=lambda o: o.id)
    random.Random(seed).shuffle(ordered)
    cut = round(len(ordered) * holdout)
    held, fit_part = ordered[:cut], ordered[cut:]
    train = [o for o in fit_part if o.status == "labeled"]
    if not held or not train:
        raise ValueError(
            f"{len(ordered)} records split {len(fit_part)}/{len(held)} leave nothing to "
            + ("fit on (no labeled record)" if held else "measure on")
        )
    router = Router(fit(method, [o.confidence for o in train], [o.correct for o in train]))
    calibrated = router.outcomes(held)
    selection = None if target is None else select_threshold(calibrated, target, delta)
    return CrossFit(
        map=router.map,
        fitted_on=len(train),
        held_out=before_after(held, calibrated, bins),
        selection=selection,
        used_ids=tuple(sorted(o.id for o in ordered)),
    )


def check(
    outcomes: Sequence[Outcome],
    router: Router,
    *,
    used_ids: frozenset[str],
    target: float | None,
    delta: float,
    bins: int = 10,
) -> CalibrationCheck:
    """Judge ``router`` on the outcomes it was not fitted or chosen on."""
    fresh = [o for o in outcomes if o.id not in used_ids]
    if not fresh:
        raise ValueError("the calibration file was fitted or chosen on every one of these records")
    calibrated = router.outcomes(fresh)
    kept = [o for o in calibrated if router.keeps(o.status, o.confidence)]
    right = sum(o.correct for o in kept)
    return CalibrationCheck(
        quality=before_after(fresh, calibrated, bins),
        left_out=len(outcomes) - len(fresh),
        threshold=router.threshold,
        target=target,
        kept=len(kept),
        right=right,
        lower_bound=clopper_pearson_lower(right, len(kept), delta) if kept else None,
    )


def before_after(raw: Sequence[Outcome], calibrated: Sequence[Outcome], bins: int) -> BeforeAfter:
    return BeforeAfter(
        records=len(raw),
        bins=bins,
        ece_before=reliability.ece(raw, bins).ece,
        ece_after=reliability.ece(calibrated, bins).ece,
        brier_before=reliability.brier(raw),
        brier_after=reliability.brier(calibrated),
    )
