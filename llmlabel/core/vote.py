"""Self-consistency voting for classification. Pure and deterministic.

Rules (documented in the README):
- Each sample votes for one label; an invalid sample votes for nothing but still counts in
  the total, so invalid answers lower confidence instead of vanishing.
- The label with the most votes wins; ``confidence`` = its votes / all samples.
- A tie between leaders is broken by the task's label order (the label listed first wins) and
  flagged with ``tie=True``, so the result never depends on sample order.
- No valid sample at all is an abstention with a reason, confidence 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Vote:
    label: str | None
    confidence: float
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    tie: bool = False
    abstain_reason: str | None = None

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
        why = f"no valid answer in {total} sample{'s' if total != 1 else ''}"
        if reasons:
            why += f" (first: {reasons[0]})"
        return Vote(label=None, confidence=0.0, counts={}, total=total, abstain_reason=why)
    rank = {label: i for i, label in enumerate(order)}
    counts = dict(sorted(counter.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
    best = max(counts.values())
    leaders = [label for label, c in counts.items() if c == best]
    return Vote(
        label=leaders[0],
        confidence=best / total,
        counts=counts,
        total=total,
        tie=len(leaders) > 1,
    )
