"""Per-record example choice by embedding: k nearest neighbours, or MMR for diversity.

A record's text is the task's ``fields`` in order, one per line (strings as they are, other
values as JSON, missing or null fields skipped); the pool examples are embedded the same way.
Similarity is the cosine (rows are L2-normalised). Ties go to the example listed first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from llmlabel.select.embed import Embedder, EmbedderName, Matrix, cached_embeddings, make_embedder

Vector = NDArray[np.float32]
Mask = NDArray[np.bool_]


def text_of(data: Mapping[str, Any], fields: Sequence[str]) -> str:
    values = (data.get(field) for field in fields)
    return "\n".join(
        v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        for v in values
        if v is not None
    )


def nearest(query: Vector, pool: Matrix, k: int, allowed: Mask) -> list[int]:
    """Indices of the ``k`` allowed rows most similar to ``query``, most similar first."""
    scores = pool @ query
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order if allowed[i]][:k]


def mmr(query: Vector, pool: Matrix, k: int, allowed: Mask, lambda_: float) -> list[int]:
    """Maximal marginal relevance: each next pick maximises ``lambda_ * sim(query, x) -
    (1 - lambda_) * max sim(x, already picked)``; ``lambda_ = 1`` is plain nearest neighbours.
    Indices in the order picked."""
    relevance = pool @ query
    redundancy = np.full(len(pool), -np.inf, dtype=np.float32)
    free = allowed.copy()
    picked: list[int] = []
    while len(picked) < k and free.any():
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        score = lambda_ * relevance - (1 - lambda_) * penalty
        best = int(np.argmax(np.where(free, score, -np.inf)))
        picked.append(best)
        free[best] = False
        redundancy = np.maximum(redundancy, pool @ pool[best])
    return picked


class SemanticIndex:
    """The pool's embeddings and the embedder that also embeds each record."""

    def __init__(self, embedder: Embedder, texts: Sequence[str], vectors: Matrix) -> None:
        self.embedder = embedder
        self.texts = list(texts)
        self.vectors = vectors

    def rank(
        self,
        text: str,
        k: int,
        *,
        skip: Sequence[int] = (),
        lambda_: float | None = None,
    ) -> list[int]:
        """Pool indices for a record, picked order; ``lambda_`` set means MMR. ``skip`` and any
        pool text identical to ``text`` (the same record under another id) are never picked."""
        allowed = np.array([t != text for t in self.texts], dtype=np.bool_)
        allowed[list(skip)] = False
        query = self.embedder.embed([text])[0]
        if lambda_ is None:
            return nearest(query, self.vectors, k, allowed)
        return mmr(query, self.vectors, k, allowed, lambda_)


def build_index(
    texts: Sequence[str], embedder_name: EmbedderName, cache_folder: Path
) -> SemanticIndex:
    embedder = make_embedder(embedder_name, texts)
    return SemanticIndex(embedder, texts, cached_embeddings(embedder, texts, cache_folder))
