"""Self-consistency voting. Pure and deterministic.

Classification (``plurality``), rules documented in docs/confidence.md:
- Each sample votes for one label; an invalid sample votes for nothing but still counts in
  the total, so invalid answers lower confidence instead of vanishing.
- The label with the most votes wins; ``confidence`` = its votes / all samples.
- A tie between leaders is broken by the task's label order (the label listed first wins) and
  flagged with ``tie=True``, so the result never depends on sample order.
- No valid sample at all is an abstention with a reason, confidence 0.

Multi-label (``per_label_majority``):
- Each valid sample votes yes or no on every label; a label is kept when more than half of
  the valid samples include it (exactly half is a tie: not kept, flagged ``tie=True``).
- A label's confidence is the share of all samples that agree with the decision on it, so
  invalid samples lower it; the record's ``confidence`` is the weakest of these.

Item lists (multi-label labels, NER spans, triples) can be voted with ``soft`` weights: each
sample's items then count by their probability from the sample's tokens instead of 1 (the
decisions stay the hard majority's; only the confidences change, see ``weights``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Vote:
    """The voted answer: ``label`` is a label (classification), a list of labels (multi-label)
    or ``None`` (abstention). ``counts``: samples per label; ``label_confidence``: per-label
    decision confidence where the kind has one."""

    label: Any
    confidence: float
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    tie: bool = False
    abstain_reason: str | None = None
    label_confidence: dict[str, float] | None = None
    extra: dict[str, Any] | None = None
    """Row fields the kind adds beside the label (NER: ``tags``, ``dropped_spans``)."""

    @property
    def margin(self) -> float:
        """Share gap between the winner and the runner-up (0 on a tie or abstention)."""
        if not self.total or self.label is None:
            return 0.0
        ranked = [*sorted(self.counts.values(), reverse=True), 0]
        return (ranked[0] - ranked[1]) / self.total


def plurality(
    values: Sequence[str | None], order: Sequence[str], reasons: Sequence[str] = ()
) -> Vote:
    """Vote over sample values (``None`` = invalid sample). ``order`` breaks ties."""
    total = len(values)
    counter = Counter(v for v in values if v is not None)
    if not counter:
        return abstain(total, reasons)
    counts = ordered(counter, order)
    best = max(counts.values())
    leaders = [label for label, c in counts.items() if c == best]
    return Vote(
        label=leaders[0],
        confidence=best / total,
        counts=counts,
        total=total,
        tie=len(leaders) > 1,
    )


Soft = Sequence[Mapping[Any, float] | None]
"""Per sample, aligned with the values: each of its items' probability (from its tokens,
``llmlabel.core.labelprobs.item_probs``), and under the key ``None`` the probability of its
empty answer; ``None`` for an invalid sample."""


def weights(
    counts: Mapping[Any, int], values: Sequence[Any], soft: Soft | None
) -> tuple[dict[Any, float], float]:
    """Each item's support (its count, or with ``soft`` the sum of its probabilities over the
    samples that have it) and the support of an empty answer (the valid samples without items,
    or the sum of their probabilities). An item a sample has but ``soft`` lacks counts 1."""
    if soft is None:
        return dict(counts), float(sum(v is not None and not v for v in values))
    support = dict.fromkeys(counts, 0.0)
    nothing = 0.0
    for value, probs in zip(values, soft, strict=True):
        if value is None:
            continue
        probs = probs or {}
        for item in value:
            support[item] += probs.get(item, 1.0)
        if not value:
            nothing += probs.get(None, 1.0)
    return support, nothing


def per_label_majority(
    values: Sequence[frozenset[str] | None],
    order: Sequence[str],
    reasons: Sequence[str] = (),
    soft: Soft | None = None,
) -> Vote:
    """Multi-label vote over sample label sets (``None`` = invalid sample); with ``soft``, a
    label's confidence and probability come from its tokens (``weights``)."""
    total = len(values)
    valid = [v for v in values if v is not None]
    if not valid:
        return abstain(total, reasons)
    counts = ordered(Counter(label for labels in valid for label in labels), order)
    kept = [label for label, c in counts.items() if 2 * c > len(valid)]
    tie = any(2 * c == len(valid) for c in counts.values())
    universe = list(dict.fromkeys([*order, *counts]))
    support, nothing = weights(counts, values, soft)
    decided = {
        label: (support.get(label, 0) if label in kept else len(valid) - support.get(label, 0))
        / total
        for label in universe
    }
    confidence = min(decided.values()) if counts else nothing / total
    extra = None
    if soft is not None:
        probs = {label: round(support.get(label, 0.0) / len(valid), 6) for label in universe}
        extra = {"probs": probs}
    return Vote(
        label=kept,
        confidence=confidence,
        counts=counts,
        total=total,
        tie=tie,
        label_confidence={label: round(share, 6) for label, share in decided.items()},
        extra=extra,
    )


def ordered(counter: Mapping[str, int], order: Sequence[str]) -> dict[str, int]:
    """Counts in the task's label order (unknown labels last, alphabetically)."""
    rank = {label: i for i, label in enumerate(order)}
    return dict(sorted(counter.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def abstain(total: int, reasons: Sequence[str]) -> Vote:
    why = f"no valid answer in {total} sample{'s' if total != 1 else ''}"
    if reasons:
        why += f" (first: {reasons[0]})"
    return Vote(label=None, confidence=0.0, counts={}, total=total, abstain_reason=why)
