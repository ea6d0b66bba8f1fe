"""Choose the few-shot examples shown before each record.

Every strategy picks one set per run, so all records share the same prompt prefix and the
server's prefix cache is reused. The only per-record change is the leakage guard: a record
that is itself in the chosen set gets the next candidate in its place.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Example:
    id: str
    data: dict[str, Any]
    answer: dict[str, Any]
    label: str = ""
    where: str = field(default="", compare=False)


class ExampleSelector:
    """``fixed``: the first k; ``random``: k drawn with ``seed``; ``label_balanced``: round
    robin over the labels (in task order), each label's examples in seeded order."""

    def __init__(
        self,
        pool: Sequence[Example],
        k: int,
        strategy: str = "fixed",
        seed: int = 0,
        labels: Sequence[str] = (),
    ):
        self.k = min(k, len(pool))
        self._ranked = _rank(list(pool), strategy, seed, labels)

    def for_record(self, record_id: str | None = None) -> list[Example]:
        chosen: list[Example] = []
        for example in self._ranked:
            if len(chosen) == self.k:
                break
            if record_id is not None and example.id == record_id:
                continue
            chosen.append(example)
        return chosen


def _rank(pool: list[Example], strategy: str, seed: int, labels: Sequence[str]) -> list[Example]:
    if strategy == "fixed":
        return pool
    shuffled = pool[:]
    random.Random(seed).shuffle(shuffled)
    if strategy == "random":
        return shuffled
    if strategy == "label_balanced":
        order = list(labels) + sorted({e.label for e in pool} - set(labels))
        queues = {label: [e for e in shuffled if e.label == label] for label in order}
        ranked: list[Example] = []
        while any(queues.values()):
            for label in order:
                if queues[label]:
                    ranked.append(queues[label].pop(0))
        return ranked
    raise ValueError(f"unknown example strategy {strategy!r}")
