"""The student of ``llmlabel distill``: sentence embeddings (``select.embed``) + scikit-learn's
logistic regression, fitted on silver labels; the learning curves that refit it on subsets of
the silver set; and saving and loading a trained student (joblib)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlabel.core import distill as plan
from llmlabel.core.metrics import accuracy
from llmlabel.errors import InputError
from llmlabel.models import cache_dir
from llmlabel.select.embed import Embedder, EmbedderName, Matrix, cached_embeddings, make_embedder

REPEATS = 3
"""Seeded draws averaged per point of the curves that subsample the silver set."""


@dataclass(frozen=True)
class CurvePoint:
    x: float
    records: int
    """Silver records trained on."""
    accuracy: float
    low: float
    high: float
    random_same_size: float | None = None
    """Threshold curve: the mean accuracy of students on random silver of the same size."""


@dataclass
class Student:
    """A trained student: ``predict`` takes records (dicts with the task's fields)."""

    embedder: Embedder
    model: Any
    fields: list[str]

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[str]:
        vectors = self.embedder.embed([text_of(r, self.fields) for r in records])
        return [str(label) for label in self.model.predict(vectors)]


class Vectors:
    """Silver embeddings by id; the embedder is fitted on (TF-IDF) or ignores the silver texts."""

    def __init__(self, name: EmbedderName, texts: list[str], ids: list[str]) -> None:
        self.embedder = make_embedder(name, texts)
        self.matrix = self.embed(texts)
        self.index = {i: n for n, i in enumerate(ids)}

    def embed(self, texts: Sequence[str]) -> Matrix:
        if self.embedder.name == "minilm":
            return cached_embeddings(self.embedder, texts, cache_dir() / "embeddings")
        return self.embedder.embed(texts)

    def rows(self, ids: Sequence[str]) -> Matrix:
        return self.matrix[[self.index[i] for i in ids]]


def fit(vectors: Vectors, ids: Sequence[str], labels: Mapping[str, str]) -> Any:
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    y = [labels[i] for i in ids]
    model = LogisticRegression(max_iter=1000) if len(set(y)) > 1 else DummyClassifier()
    return model.fit(vectors.rows(ids), y)


def fit_predict(
    vectors: Vectors, ids: Sequence[str], labels: Mapping[str, str], gold: Matrix
) -> list[str | None]:
    """The student's labels for ``gold`` rows; ``None`` for each when it has nothing to learn
    from (every silver record excluded)."""
    if not ids:
        return [None] * len(gold)
    return [str(p) for p in fit(vectors, ids, labels).predict(gold)]


Score = Any  # Callable[[Sequence[str]], list[Outcome]], kept loose for the nested closure


def curve_by_size(score: Score, kept: Sequence[str], seed: int) -> list[CurvePoint]:
    points = []
    for size in plan.sizes(len(kept)):
        draws = 1 if size == len(kept) else REPEATS
        accuracies = [
            accuracy(score(plan.subsample(kept, size, seed, f"size{size}:{r}")))
            for r in range(draws)
        ]
        points.append(
            CurvePoint(size, size, statistics.fmean(accuracies), min(accuracies), max(accuracies))
        )
    return points


def curve_by_threshold(
    score: Score, labeled: Sequence[str], confidence: Mapping[str, float], seed: int
) -> list[CurvePoint]:
    points: list[CurvePoint] = []
    for threshold in plan.thresholds([confidence[i] for i in labeled]):
        kept = [i for i in labeled if confidence[i] >= threshold]
        if points and points[-1].records == len(kept):
            continue  # the same silver set as the lower threshold
        filtered = accuracy(score(kept))
        draws = [
            accuracy(score(plan.subsample(labeled, len(kept), seed, f"t{threshold}:{r}")))
            for r in range(1 if len(kept) == len(labeled) else REPEATS)
        ]
        points.append(
            CurvePoint(threshold, len(kept), filtered, filtered, filtered, statistics.fmean(draws))
        )
    return points


def text_of(data: Mapping[str, Any], fields: Sequence[str]) -> str:
    values = (data[f] if isinstance(data[f], str) else json.dumps(data[f]) for f in fields)
    return "\n".join(values)


def save_student(
    path: str | Path,
    vectors: Vectors,
    ids: Sequence[str],
    labels: Mapping[str, str],
    fields: Sequence[str],
) -> Path:
    import joblib

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    student = Student(vectors.embedder, fit(vectors, ids, labels), list(fields))
    joblib.dump(student, target)
    return target


def load_student(path: str | Path) -> Student:
    """A student written by ``distill(..., save=path)``; unpickling runs code: load only files
    you trust."""
    import joblib

    student = joblib.load(path)
    if not isinstance(student, Student):
        raise InputError("not a student saved by llmlabel distill", where=str(path))
    return student
