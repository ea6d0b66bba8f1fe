"""Which labeled records become the example pool of a transductive pass (``bootstrap:``). Pure.

The model's own most confident labels stand in for human ones: per label, the labeled rows
with the highest confidence (at least ``min_confidence``), at most ``per_label`` of them, so
that a label the model over-predicts cannot crowd the others out of the pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def choose(
    rows: Iterable[Mapping[str, Any]],
    labels: Sequence[str],
    per_label: int,
    min_confidence: float = 0.0,
) -> list[tuple[str, str]]:
    """(record id, label) of the pool: labels in task order, each one's rows by confidence
    (highest first; ties by id, so the pool does not depend on row order)."""
    by_label: dict[str, list[tuple[float, str]]] = {label: [] for label in labels}
    for row in rows:
        label, confidence = row.get("label"), row.get("confidence")
        if row.get("status") != "labeled" or label not in by_label or row.get("id") is None:
            continue
        if isinstance(confidence, (int, float)) and confidence >= min_confidence:
            by_label[label].append((-float(confidence), str(row["id"])))
    return [
        (record_id, label)
        for label in labels
        for _, record_id in sorted(by_label[label])[:per_label]
    ]
