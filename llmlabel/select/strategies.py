"""Choose the few-shot examples shown before each record.

``fixed``, ``random`` and ``label_balanced`` pick one set per run, so all records share the
same prompt prefix and the server's prefix cache is reused; their only per-record change is the
leakage guard: a record that is itself in the chosen set gets the next candidate in its place.
``semantic`` and ``mmr`` pick per record by embedding (``llmlabel.select.semantic``), trading
the shared prefix for examples that resemble the record.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmlabel.models import cache_dir
from llmlabel.select.semantic import SemanticIndex, build_index, text_of

if TYPE_CHECKING:
    from llmlabel.core.settings import ExamplesSpec

PER_RECORD = ("semantic", "mmr")


@dataclass(frozen=True)
class Example:
    id: str
    data: dict[str, Any]
    answer: dict[str, Any]
    label: str = ""
    where: str = field(default="", compare=False)


class ExampleSelector:
    """``fixed``: the first k; ``random``: k drawn with ``seed``; ``label_balanced``: round
    robin over the labels (in task order), each label's examples in seeded order;
    ``semantic``: the k nearest to the record in ``index``; ``mmr``: maximal marginal relevance
    with ``mmr_lambda``. Per-record picks are shown least similar first, so the most similar
    example sits right before the record."""

    def __init__(
        self,
        pool: Sequence[Example],
        k: int,
        strategy: str = "fixed",
        seed: int = 0,
        labels: Sequence[str] = (),
        *,
        fields: Sequence[str] = ("text",),
        index: SemanticIndex | None = None,
        mmr_lambda: float = 0.5,
    ):
        self.k = min(k, len(pool))
        self.strategy = strategy
        self.pool: tuple[Example, ...] = tuple(pool)
        """Every example it may show."""
        self._pool = list(pool)
        self._fields = list(fields)
        self._index = index
        self._lambda = mmr_lambda if strategy == "mmr" else None
        if strategy in PER_RECORD:
            if self.k and (index is None or len(index.texts) != len(self._pool)):
                raise ValueError(f"the {strategy} strategy needs an index of the example pool")
            self._ranked: list[Example] = []
        else:
            self._ranked = _rank(self._pool, strategy, seed, labels)

    @property
    def embedder(self) -> str | None:
        """``name: model`` of the embedder behind a per-record strategy, else None."""
        if self._index is None:
            return None
        return f"{self._index.embedder.name}: {self._index.embedder.model}"

    def for_record(
        self, record_id: str | None = None, data: Mapping[str, Any] | None = None
    ) -> list[Example]:
        """The record's examples; ``data`` (the record's fields) is needed by ``semantic`` and
        ``mmr``. A record is never its own example: an example with its id, or with its text in
        every field, is skipped."""
        if self._index is not None and self.k:
            if data is None:
                raise ValueError(f"the {self.strategy} strategy needs the record's data")
            skip = [i for i, e in enumerate(self._pool) if self._own(e, record_id, data)]
            picked = self._index.rank(
                text_of(data, self._fields), self.k, skip=skip, lambda_=self._lambda
            )
            return [self._pool[i] for i in reversed(picked)]
        chosen: list[Example] = []
        for example in self._ranked:
            if len(chosen) == self.k:
                break
            if self._own(example, record_id, data):
                continue
            chosen.append(example)
        return chosen

    def _own(self, example: Example, record_id: str | None, data: Mapping[str, Any] | None) -> bool:
        """Whether ``example`` is the record itself: its id, or the same values in the task's
        fields (a duplicate under another id)."""
        if record_id is not None and example.id == record_id:
            return True
        if data is None:
            return False
        mine = [data.get(f) for f in self._fields]
        return any(v is not None for v in mine) and mine == [
            example.data.get(f) for f in self._fields
        ]


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


def make_selector(
    examples: ExamplesSpec,
    pool: Sequence[Example],
    k: int,
    labels: Sequence[str],
    fields: Sequence[str],
) -> ExampleSelector:
    """The selector a task file asks for; ``semantic``/``mmr`` embed the pool (cached on disk
    under the llmlabel cache dir) with ``examples.embedder``."""
    index = None
    if examples.strategy in PER_RECORD and pool and k:
        texts = [text_of(e.data, fields) for e in pool]
        index = build_index(texts, examples.embedder, cache_dir() / "embeddings")
    return ExampleSelector(
        pool,
        k,
        examples.strategy,
        examples.seed,
        labels,
        fields=fields,
        index=index,
        mmr_lambda=examples.mmr_lambda,
    )
