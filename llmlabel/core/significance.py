"""Paired significance tests between two variants scored on the same records. Pure.

- McNemar's exact test looks only at the discordant records (right under one variant, wrong
  under the other): under "no difference" each is equally likely to go either way, so the
  smaller count is Binomial(b + c, 1/2). Two-sided p = min(1, 2 · P[X ≤ min(b, c)]), scipy's
  exact ``binomtest`` (no normal approximation, so it is right for the small counts gold sets
  give).
- The paired bootstrap resamples records (the same draw for both variants, so each record keeps
  its pair) and recomputes any statistic's difference B − A. The p-value is two-sided and
  null-centred: how often a resampled difference lies at least |observed| away from the observed
  one, (1 + count) / (1 + resamples), so it is never 0 and is exactly 1 for identical variants.
- ``holm`` adjusts a family of p-values (every pair of variants) for multiple comparisons,
  controlling the family-wise error rate without assuming independence.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from llmlabel.core.metrics import Outcome, Statistic, _quantile


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class McNemar(_Value):
    """``a_only``: records right under A and wrong under B; ``b_only`` the reverse."""

    a_only: int
    b_only: int
    p_value: float
    p_adjusted: float | None = None
    """After correction for multiple comparisons, when the test is one of a family."""


class PairedDelta(_Value):
    """A statistic under A and B on the same records, B − A with its bootstrap interval and a
    two-sided p-value for "no difference"."""

    statistic: str
    a: float
    b: float
    delta: float
    low: float
    high: float
    p_value: float
    p_adjusted: float | None = None
    """After correction for multiple comparisons, when the test is one of a family."""
    level: float = 0.95


def mcnemar_exact(a_only: int, b_only: int) -> McNemar:
    """McNemar's exact (binomial) test on the discordant counts; p = 1 when there are none."""
    if a_only < 0 or b_only < 0:
        raise ValueError("discordant counts must be >= 0")
    n = a_only + b_only
    if n == 0:
        return McNemar(a_only=a_only, b_only=b_only, p_value=1.0)
    from scipy.stats import binomtest

    p_value = float(binomtest(min(a_only, b_only), n, 0.5).pvalue)
    return McNemar(a_only=a_only, b_only=b_only, p_value=p_value)


def discordant(a: Sequence[Outcome], b: Sequence[Outcome]) -> tuple[list[str], list[str]]:
    """Ids right under A only (right → wrong going from A to B) and under B only."""
    _check_paired(a, b)
    a_only = [x.id for x, y in zip(a, b, strict=True) if x.correct and not y.correct]
    b_only = [x.id for x, y in zip(a, b, strict=True) if y.correct and not x.correct]
    return a_only, b_only


def paired_bootstrap(
    a: Sequence[Outcome],
    b: Sequence[Outcome],
    statistics: Mapping[str, Statistic],
    *,
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, PairedDelta]:
    """B − A for each statistic over the same seeded resamples of the paired records."""
    _check_paired(a, b)
    if resamples < 1:
        raise ValueError("resamples must be >= 1")
    rng = random.Random(seed)
    n = len(a)
    observed = {name: (f(a), f(b)) for name, f in statistics.items()}
    draws: dict[str, list[float]] = {name: [] for name in statistics}
    for _ in range(resamples if n else 0):
        picks = rng.choices(range(n), k=n)
        sample_a, sample_b = [a[i] for i in picks], [b[i] for i in picks]
        for name, f in statistics.items():
            draws[name].append(f(sample_b) - f(sample_a))
    tail = (1 - level) / 2
    result = {}
    for name, (value_a, value_b) in observed.items():
        delta = value_b - value_a
        values = sorted(draws[name])
        extreme = sum(abs(d - delta) >= abs(delta) - _EPSILON for d in values)
        result[name] = PairedDelta(
            statistic=name,
            a=value_a,
            b=value_b,
            delta=delta,
            low=_quantile(values, tail) if values else delta,
            high=_quantile(values, 1 - tail) if values else delta,
            p_value=(1 + extreme) / (1 + len(values)),
            level=level,
        )
    return result


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order: the i-th smallest p is multiplied
    by (m − i + 1), capped at 1, and kept monotone. Reject where adjusted p < alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


_EPSILON = 1e-12
"""Differences of metrics over the same records are sums of fractions: float noise only."""


def _check_paired(a: Sequence[Outcome], b: Sequence[Outcome]) -> None:
    if [o.id for o in a] != [o.id for o in b]:
        raise ValueError("paired tests need the same records, in the same order, for A and B")
