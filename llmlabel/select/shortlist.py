"""Per-record label shortlists, for tasks with tens to hundreds of labels.

A prompt listing 100 labels is long, and a small model picks badly among them. A shortlist
shows each record only its ``k`` labels most similar to its text: the cosine between the
record's fields (embedded as semantic example selection embeds them, ``text_of``) and each
label's ``name: description`` (underscores and hyphens in the name read as spaces, so
``card_arrival`` meets "my card arrived"). Labels are embedded once per task (cached on disk
like an example pool), records in batches. Ties go to the label listed first.

What the model is then asked, and how the answer is constrained and scored, is
``llmlabel.task.PreparedTask.narrowed``; the runner (``llmlabel.runs.local``) puts the two
together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llmlabel.select.embed import Embedder, EmbedderName, Matrix, cached_embeddings, make_embedder

SETTING = "shortlist.embedder"


def label_text(name: str, description: str | None) -> str:
    """What a label is embedded as: ``name: description``, the name's ``_``/``-`` as spaces."""
    words = " ".join(name.replace("_", " ").replace("-", " ").split()) or name
    return f"{words}: {description}" if description else words


class Shortlister:
    """The task's labels embedded once; ``top`` ranks them for a batch of record texts."""

    def __init__(self, labels: Sequence[str], embedder: Embedder, vectors: Matrix, k: int):
        if len(labels) != len(vectors):
            raise ValueError("one vector per label")
        self.labels = tuple(labels)
        self.embedder = embedder
        self.vectors = vectors
        self.k = min(k, len(labels))

    @property
    def embedder_name(self) -> str:
        """``name: model`` of the embedder, for provenance."""
        return f"{self.embedder.name}: {self.embedder.model}"

    def top(self, texts: Sequence[str]) -> list[list[str]]:
        """For each text, its ``k`` most similar labels, most similar first (one embedding
        call for the whole batch)."""
        if not texts:
            return []
        scores = self.embedder.embed(list(texts)) @ self.vectors.T
        order = np.argsort(-scores, axis=1, kind="stable")[:, : self.k]
        return [[self.labels[int(i)] for i in row] for row in order]


def build_shortlister(
    labels: Sequence[tuple[str, str | None]],
    k: int,
    embedder_name: EmbedderName,
    cache_folder: Path,
) -> Shortlister:
    """A shortlister over ``labels`` ((name, description) in task order). TF-IDF is fitted on
    the label texts: a record's words that no label uses do not count."""
    names = [name for name, _ in labels]
    texts = [label_text(name, description) for name, description in labels]
    embedder = make_embedder(
        embedder_name, texts, setting=SETTING, use="the label shortlist", fitted_on="the labels"
    )
    return Shortlister(names, embedder, cached_embeddings(embedder, texts, cache_folder), k)
