"""Choose a confidence threshold whose kept labels are accurate enough, with a guarantee.

Method: Learn-then-Test (Angelopoulos et al., 2021) with fixed-sequence testing and exact
binomial (Clopper–Pearson) p-values. For each candidate threshold λ the null hypothesis is
"the accuracy of labels with confidence ≥ λ is below ``target``". Given how many calibration
records are kept at λ, the right ones among them are binomial, so the p-value is
``P(Binomial(kept, target) ≥ right)``; it is ≤ δ exactly when the one-sided Clopper–Pearson
lower bound at level 1 − δ is ≥ ``target``. The candidates are tested from the highest
threshold down, each at level δ, stopping at the first that fails; the lowest threshold
rejected is returned.

The sequence starts at the first threshold that keeps enough records to pass at all (``n``
with ``target ** n <= δ``: 45 for 95% at δ = 0.1). Thresholds above it keep too few records
to be rejected whatever their labels, so with continuous confidences (label probabilities
from logprobs, one record per distinct value) a sequence that started at the top would stop
at its first record. Where it starts depends on the confidences only, not on which labels are
right, so the test stays valid given the confidences.

Why this and not "the lowest threshold whose lower bound reaches the target": checking many
thresholds and keeping the best one is a multiple comparison, and the chance that at least one
of them passes by luck grows with their number. Fixed-sequence testing in an order set before
looking at the outcomes (the thresholds in decreasing order) controls the chance of any false
pass at δ with no Bonferroni split, so no coverage is lost to a union bound, and it needs no
assumption that accuracy falls with the threshold.

The guarantee: if calibration records and later records are drawn from the same distribution
(exchangeable), then with probability ≥ 1 − δ over the calibration records, the accuracy of
the later labeled records kept (confidence ≥ threshold) is ≥ ``target``. Abstained and failed
records are never kept; they go to review whatever the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.core.metrics import Outcome

METHOD = "learn-then-test, fixed-sequence, Clopper-Pearson (exact binomial) p-values"


class Selection(BaseModel):
    """The threshold chosen on calibration records and what it bought there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: float = Field(ge=0.0, le=1.0)
    """Accuracy the kept labels must reach."""
    delta: float = Field(gt=0.0, lt=1.0)
    """Allowed chance that they do not (over the draw of calibration records)."""
    method: str = METHOD
    threshold: float | None
    """Keep labels with confidence ≥ this; None: no threshold passed, review everything."""
    records: int
    """Calibration records the threshold was chosen on (abstained and failed included)."""
    kept: int
    right: int
    lower_bound: float | None
    """One-sided (1 − δ) Clopper–Pearson lower bound on the kept records' accuracy."""

    @property
    def coverage(self) -> float:
        return self.kept / self.records if self.records else 0.0

    @property
    def accuracy(self) -> float | None:
        return self.right / self.kept if self.kept else None

    def sentence(self) -> str:
        if self.threshold is None:
            return (
                f"no threshold keeps labels at ≥{self.target:.0%} accuracy with "
                f"{1 - self.delta:.0%} confidence on {self.records} records: review everything"
            )
        return (
            f"keep confidence ≥ {self.threshold:.4g}: {self.coverage:.0%} of records "
            f"({self.kept} of {self.records}, {self.right / self.kept:.1%} right); accuracy "
            f"≥ {self.target:.0%} guaranteed with {1 - self.delta:.0%} confidence "
            f"(lower bound {self.lower_bound:.3f})"
        )


def select_threshold(outcomes: Sequence[Outcome], target: float, delta: float) -> Selection:
    """The lowest confidence threshold that passes fixed-sequence testing (see the module)."""
    labeled = sorted((o for o in outcomes if o.status == "labeled"), key=lambda o: -o.confidence)
    chosen: tuple[float, int, int] | None = None
    kept = right = 0
    i = 0
    fewest = testable(target, delta)
    while i < len(labeled):
        threshold = labeled[i].confidence
        while i < len(labeled) and labeled[i].confidence == threshold:
            kept += 1
            right += labeled[i].correct
            i += 1
        if kept < fewest:
            continue  # no outcome of so few records could pass: not a test yet
        if binomial_tail(kept, right, target) > delta:
            break
        chosen = threshold, kept, right
    if chosen is None:
        return Selection(
            target=target,
            delta=delta,
            threshold=None,
            records=len(outcomes),
            kept=0,
            right=0,
            lower_bound=None,
        )
    threshold, kept, right = chosen
    return Selection(
        target=target,
        delta=delta,
        threshold=threshold,
        records=len(outcomes),
        kept=kept,
        right=right,
        lower_bound=clopper_pearson_lower(right, kept, delta),
    )


def testable(target: float, delta: float) -> int:
    """The fewest kept records that can pass at all: all right, ``target ** n <= delta``."""
    if target <= 0.0:
        return 1
    if target >= 1.0:
        return 1 << 62  # never: a perfect accuracy cannot be shown on a sample
    return max(1, math.ceil(math.log(delta) / math.log(target) - 1e-9))


def binomial_tail(n: int, k: int, p: float) -> float:
    """``P(Binomial(n, p) ≥ k)``, the exact p-value of "success rate < p" after k of n."""
    from scipy.stats import binom

    return float(binom.sf(k - 1, n, p))


def clopper_pearson_lower(k: int, n: int, delta: float) -> float:
    """One-sided (1 − δ) Clopper–Pearson lower bound on a success rate after k of n:
    the δ quantile of Beta(k, n − k + 1), i.e. the p at which ``P(X ≥ k) = δ``."""
    if not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n")
    if k == 0:
        return 0.0
    from scipy.stats import beta

    return float(beta.ppf(delta, k, n - k + 1))
