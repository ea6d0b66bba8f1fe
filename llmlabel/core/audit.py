"""Audit the humans: find likely label errors in a gold set or few-shot pool. Pure.

Confident learning (Northcutt, Jiang and Chuang, "Confident Learning: Estimating Uncertainty in
Dataset Labels", JAIR 2021), with the model's vote distribution as its predicted probabilities:

1. ``p(j | x)``: the share of the record's samples that voted ``j`` (invalid samples are an
   outcome of their own, so the shares sum to at most 1). With a calibration, the leader gets
   its calibrated confidence and the other labels share the rest in proportion to their votes.
2. Per-class threshold ``t_j``: the mean self-confidence ``p(j | x)`` over the records *given*
   label ``j`` — how sure the model usually is of a correct-looking ``j``. A label given to no
   record has threshold 1. A fixed ``threshold`` replaces them all.
3. A record counts toward the confident joint ``C[given][j]`` for the label ``j`` with the
   highest ``p(j | x)`` among those with ``p(j | x) >= t_j`` (ties: the given label, then the
   label order); records with no such label are not counted.
4. The off-diagonal entries are the flagged records, ranked by margin ``p(suggested | x) −
   p(given | x)``, largest first (then by ``p(suggested | x)``, then by id).

A record the model did not label (abstained, failed: no valid vote) has no distribution; it is
counted as unscored and never flagged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Audited:
    """One gold record: its given label and the model's probability for each label."""

    id: str
    given: str
    probs: Mapping[str, float]
    votes: Mapping[str, int]


@dataclass(frozen=True)
class Flag:
    """A record whose given label the model confidently contradicts."""

    id: str
    given: str
    suggested: str
    margin: float
    p_given: float
    p_suggested: float
    threshold: float
    """The suggested label's threshold, which ``p_suggested`` reached."""


@dataclass(frozen=True)
class Audit:
    labels: tuple[str, ...]
    thresholds: dict[str, float]
    flags: list[Flag]
    joint: dict[tuple[str, str], int]
    """Confident joint: (given, suggested) → records; the diagonal holds the confirmed ones."""
    records: int
    unscored: int
    """Records without a distribution (the model abstained or failed)."""


def distribution(
    votes: Mapping[str, int],
    invalid: int = 0,
    *,
    leader: str | None = None,
    calibrated: float | None = None,
) -> dict[str, float]:
    """Vote shares over all samples; with ``calibrated``, the ``leader`` (default: the label
    with most votes, ties by name) gets that probability and the other voted labels share the
    rest in proportion to their votes (none left when the leader had every valid vote)."""
    total = sum(votes.values()) + invalid
    if total <= 0:
        return {}
    shares = {label: n / total for label, n in votes.items() if n > 0}
    if calibrated is None or not shares:
        return shares
    top = leader if leader in shares else min(shares, key=lambda k: (-shares[k], k))
    rest = sum(n for label, n in votes.items() if label != top)
    return {
        label: calibrated if label == top else (1.0 - calibrated) * n / rest
        for label, n in votes.items()
        if n > 0
    }


def thresholds(records: Iterable[Audited], labels: Sequence[str]) -> dict[str, float]:
    """Per label, the mean probability the model gives it on the records given it (1 for a
    label no record is given)."""
    sums: dict[str, float] = dict.fromkeys(labels, 0.0)
    counts: Counter[str] = Counter()
    for r in records:
        if r.probs:
            sums[r.given] = sums.get(r.given, 0.0) + r.probs.get(r.given, 0.0)
            counts[r.given] += 1
    return {k: sums[k] / counts[k] if counts[k] else 1.0 for k in labels}


def audit(
    records: Sequence[Audited], labels: Sequence[str] = (), *, threshold: float | None = None
) -> Audit:
    """Flag the records of ``records`` whose given label the model confidently contradicts
    (the module docstring's steps). ``labels`` fixes the label order (more seen are appended,
    sorted); ``threshold`` replaces the per-class thresholds."""
    seen = {r.given for r in records} | {k for r in records for k in r.probs}
    order = (*labels, *sorted(seen - set(labels)))
    scored = [r for r in records if r.probs]
    cut = thresholds(scored, order) if threshold is None else dict.fromkeys(order, threshold)
    rank = {label: i for i, label in enumerate(order)}
    joint: Counter[tuple[str, str]] = Counter()
    flags = []
    for r in scored:
        above = [k for k, p in r.probs.items() if p >= cut[k]]
        if not above:
            continue
        suggested = min(above, key=lambda k: (-r.probs[k], k != r.given, rank[k]))
        joint[(r.given, suggested)] += 1
        if suggested != r.given:
            p_given = r.probs.get(r.given, 0.0)
            p_suggested = r.probs[suggested]
            flags.append(
                Flag(
                    id=r.id,
                    given=r.given,
                    suggested=suggested,
                    margin=p_suggested - p_given,
                    p_given=p_given,
                    p_suggested=p_suggested,
                    threshold=cut[suggested],
                )
            )
    flags.sort(key=lambda f: (-f.margin, -f.p_suggested, f.id))
    return Audit(
        labels=order,
        thresholds=cut,
        flags=flags,
        joint=dict(joint),
        records=len(records),
        unscored=len(records) - len(scored),
    )
