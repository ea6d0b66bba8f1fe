"""How far a confidence can be trusted: calibration error, Brier score, AUROC and selective
prediction. Pure: outcomes in, frozen values out.

Every record takes part: an abstained or failed record is wrong with confidence 0 (``Outcome``
carries that), so a tool that abstains a lot cannot look well calibrated by leaving records out.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from llmlabel.core.metrics import Outcome

Binning = Literal["equal_width", "equal_mass"]
_EDGE = 1e-9  # 0.7 * 10 is 7.000000000000001 and 0.57 * 100 is 56.99999999999999


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CalibrationBin(_Value):
    """Records whose confidence lies in [low, high]: how sure they were and how often right."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float

    @property
    def gap(self) -> float:
        return abs(self.accuracy - self.confidence)


class Calibration(_Value):
    """Expected calibration error: the record-weighted mean |accuracy - confidence| over bins."""

    binning: Binning
    ece: float
    bins: tuple[CalibrationBin, ...]


class CoveragePoint(_Value):
    """Keep the records with confidence >= ``threshold``: how many, and how accurate."""

    threshold: float
    kept: int
    coverage: float
    accuracy: float


class Selective(_Value):
    """The lowest threshold whose kept records reach ``target`` accuracy, if any does.

    Chosen on the evaluated records themselves, so it is an in-sample estimate of the coverage a
    threshold buys, not a guarantee for new records.
    """

    target: float
    point: CoveragePoint | None
    best: CoveragePoint | None
    """The most accurate point (the largest coverage among equals), to say how close it came."""

    def sentence(self) -> str:
        if self.point is not None:
            p = self.point
            return (
                f"keep {p.coverage:.0%} of records at ≥{self.target:.0%} accuracy "
                f"(confidence ≥ {p.threshold:.3g}, {p.kept} records at {p.accuracy:.1%})"
            )
        if self.best is None:
            return "no records to choose a confidence threshold on"
        b = self.best
        return (
            f"no confidence threshold reaches {self.target:.0%} accuracy "
            f"(best: {b.accuracy:.1%} keeping {b.coverage:.0%} at confidence ≥ {b.threshold:.3g})"
        )


def ece(
    outcomes: Sequence[Outcome], bins: int = 10, binning: Binning = "equal_width"
) -> Calibration:
    """ECE with ``bins`` equal-width bins on [0, 1] or equal-mass bins (by record count).

    Equal-width bins are [k/bins, (k+1)/bins), the last one closed; empty bins are left out.
    Equal-mass bins hold about len/bins records each but never split records with the same
    confidence (vote shares take few values), so the result does not depend on record order
    and there may be fewer bins than asked.
    """
    if bins < 1:
        raise ValueError("bins must be >= 1")
    groups = (
        _equal_width(outcomes, bins) if binning == "equal_width" else _equal_mass(outcomes, bins)
    )
    summary = tuple(_bin(group, low, high) for group, low, high in groups)
    total = len(outcomes)
    error = sum(b.count * b.gap for b in summary) / total if total else 0.0
    return Calibration(binning=binning, ece=error, bins=summary)


def brier(outcomes: Sequence[Outcome]) -> float:
    """Mean squared gap between confidence and correctness (1 right, 0 wrong): 0 is best."""
    if not outcomes:
        return 0.0
    return sum((o.confidence - o.correct) ** 2 for o in outcomes) / len(outcomes)


def auroc(outcomes: Sequence[Outcome]) -> float | None:
    """Chance that a random right record has a higher confidence than a random wrong one (ties
    count half): how well confidence ranks right above wrong. None if all are right or all wrong.
    """
    correct = [o.correct for o in outcomes]
    if all(correct) or not any(correct):
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(correct, [o.confidence for o in outcomes]))


def coverage_curve(outcomes: Sequence[Outcome]) -> tuple[CoveragePoint, ...]:
    """One point per distinct confidence, highest threshold (least coverage) first."""
    points = []
    kept = right = 0
    total = len(outcomes)
    ordered = sorted(outcomes, key=lambda o: -o.confidence)
    for _, group in _tied_runs(ordered):
        kept += len(group)
        right += sum(o.correct for o in group)
        points.append(
            CoveragePoint(
                threshold=group[0].confidence,
                kept=kept,
                coverage=kept / total,
                accuracy=right / kept,
            )
        )
    return tuple(points)


def selective(curve: Sequence[CoveragePoint], target: float) -> Selective:
    """The lowest confidence threshold whose kept records are at least ``target`` accurate.

    Accuracy need not fall as coverage grows, so every point is checked, not just a prefix.
    """
    reaching = [p for p in curve if p.accuracy >= target - _EDGE]
    point = min(reaching, key=lambda p: p.threshold) if reaching else None
    best = max(curve, key=lambda p: (p.accuracy, p.coverage)) if curve else None
    return Selective(target=target, point=point, best=best)


def _bin(group: Sequence[Outcome], low: float, high: float) -> CalibrationBin:
    return CalibrationBin(
        low=low,
        high=high,
        count=len(group),
        confidence=math.fsum(o.confidence for o in group) / len(group),
        accuracy=sum(o.correct for o in group) / len(group),
    )


def _equal_width(
    outcomes: Sequence[Outcome], bins: int
) -> Iterator[tuple[list[Outcome], float, float]]:
    groups: list[list[Outcome]] = [[] for _ in range(bins)]
    for o in outcomes:
        groups[min(max(math.floor(o.confidence * bins + _EDGE), 0), bins - 1)].append(o)
    for k, group in enumerate(groups):
        if group:
            yield group, k / bins, (k + 1) / bins


def _equal_mass(
    outcomes: Sequence[Outcome], bins: int
) -> Iterator[tuple[list[Outcome], float, float]]:
    # Record i of n (by confidence) belongs to bin i * bins // n; a run of equal confidences
    # goes whole to the bin of its first record.
    ordered = sorted(outcomes, key=lambda o: o.confidence)
    groups: dict[int, list[Outcome]] = {}
    for (first, _), run in _tied_runs(ordered):
        groups.setdefault((first - 1) * bins // len(ordered), []).extend(run)
    for group in groups.values():
        yield group, group[0].confidence, group[-1].confidence


def _tied_runs(ordered: Sequence[Outcome]) -> Iterator[tuple[tuple[int, int], list[Outcome]]]:
    """Runs of equal confidence in sorted ``ordered``, with their 1-based first and last rank."""
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1].confidence == ordered[start].confidence:
            end += 1
        yield (start + 1, end + 1), list(ordered[start : end + 1])
        start = end + 1
