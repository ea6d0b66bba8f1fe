"""Distillation, the pure part: which silver records each student sees, and the curves' points.

A student must never be scored on a record it was trained on. When the gold records are not
among the silver ones, one student (trained on all the silver it is given) scores every gold
record. When they overlap (a gold set that was also labeled, as in ``examples/sentiment``), the
gold records are cross-fitted: split into ``k`` seeded folds, and the gold records of a fold are
scored by a student trained on the silver records outside that fold (matched by id or by
text, so a duplicate under another id does not leak either).

Seeded draws hash the seed with the draw's name (``random.Random(str)`` is sha512-seeded),
so they do not depend on ``PYTHONHASHSEED`` or on the order of other draws.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Fold:
    """Gold records scored together, and the silver ids their student must not see."""

    gold: tuple[str, ...]
    excluded: frozenset[str]


def folds(gold: Mapping[str, str], silver: Mapping[str, str], k: int, seed: int = 0) -> list[Fold]:
    """Cross-fitting folds over ``gold`` (id → text) against ``silver`` (id → text): one fold
    with nothing excluded when no gold record is a silver one, else ``k`` seeded folds (fewer
    when there are fewer gold records)."""
    texts = set(gold.values())
    overlap = any(i in gold or text in texts for i, text in silver.items())
    if not overlap:
        return [Fold(tuple(gold), frozenset())]
    ids = sorted(gold)
    random.Random(f"{seed}:folds").shuffle(ids)
    k = max(1, min(k, len(ids)))
    result = []
    for part in range(k):
        members = tuple(ids[part::k])
        fold_texts = {gold[i] for i in members}
        excluded = frozenset(i for i, text in silver.items() if i in members or text in fold_texts)
        result.append(Fold(members, excluded))
    return result


def sizes(n: int, smallest: int = 25, points: int = 6) -> list[int]:
    """Training-set sizes for the learning curve: about ``points`` sizes spaced evenly on a log
    scale from ``smallest`` (or ``n`` if smaller) up to ``n``, ``n`` always last."""
    if n <= 0:
        return []
    low = min(smallest, n)
    if low == n or points < 2:
        return [n]
    ratio = (n / low) ** (1 / (points - 1))
    found = sorted({min(n, round(low * ratio**i)) for i in range(points)} | {n})
    return found


def thresholds(confidences: Sequence[float], points: int = 8) -> list[float]:
    """Confidence thresholds for the threshold curve: 0 (keep everything), then distinct
    confidences of the silver records (at most ``points`` in all, spread over their
    quantiles), so each threshold changes what is kept."""
    distinct = sorted(set(confidences))
    if not distinct:
        return [0.0]
    if len(distinct) + 1 > points:
        ordered = sorted(confidences)
        picks = {
            ordered[math.floor(q * (len(ordered) - 1) / (points - 2))] for q in range(points - 1)
        }
        distinct = sorted(picks)
    return sorted({0.0, *distinct})


def subsample(ids: Sequence[str], size: int, seed: int, name: str) -> list[str]:
    """``size`` of ``ids`` drawn without replacement, seeded by (seed, name); order kept."""
    if size >= len(ids):
        return list(ids)
    chosen = set(random.Random(f"{seed}:{name}").sample(sorted(ids), size))
    return [i for i in ids if i in chosen]
