"""kNN, MMR and the leakage guard on hand-made embeddings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from llmlabel.core.spec import parse_task
from llmlabel.errors import ConfigError
from llmlabel.select import Example, ExampleSelector
from llmlabel.select.embed import Matrix
from llmlabel.select.semantic import SemanticIndex, mmr, nearest, text_of

# q = (1, 0, 0). p0 and p1 point the same way (similarity 0.9 to q, 1 to each other); p2 is less
# similar to q (0.8) but unlike p0 (0.72). p3 points away from q (-1).
S = 0.9
VECTORS = {
    "query": (1.0, 0.0, 0.0),
    "p0": (S, (1 - S * S) ** 0.5, 0.0),
    "p1": (S, (1 - S * S) ** 0.5, 0.0),
    "p2": (0.8, 0.0, 0.6),
    "p3": (-1.0, 0.0, 0.0),
}
POOL = np.array([VECTORS[f"p{i}"] for i in range(4)], dtype=np.float32)
QUERY = np.array(VECTORS["query"], dtype=np.float32)
EVERY = np.ones(4, dtype=np.bool_)


class TableEmbedder:
    """Looks each text up in ``VECTORS``: hand-checkable similarities."""

    name = "table"
    model = "hand-made"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Matrix:
        self.calls.append(list(texts))
        return np.array([VECTORS[t] for t in texts], dtype=np.float32)


def selector(strategy: str, k: int, **kwargs: float) -> ExampleSelector:
    pool = [
        Example(id=f"e{i}", data={"text": f"p{i}"}, answer={"label": "x"}, label="x")
        for i in range(4)
    ]
    index = SemanticIndex(TableEmbedder(), [e.data["text"] for e in pool], POOL)
    return ExampleSelector(pool, k, strategy, index=index, **kwargs)  # type: ignore[arg-type]


def test_nearest_ranks_by_cosine_and_breaks_ties_by_pool_order() -> None:
    assert nearest(QUERY, POOL, 4, EVERY) == [0, 1, 2, 3]
    assert nearest(QUERY, POOL, 2, np.array([False, True, True, True])) == [1, 2]


def test_mmr_trades_a_duplicate_for_a_different_example() -> None:
    # Second pick: p1 scores 0.5*0.9 - 0.5*1.0 = -0.05, p2 scores 0.5*0.8 - 0.5*0.72 = +0.04.
    assert mmr(QUERY, POOL, 2, EVERY, 0.5) == [0, 2]
    assert mmr(QUERY, POOL, 2, EVERY, 1.0) == nearest(QUERY, POOL, 2, EVERY) == [0, 1]
    assert mmr(QUERY, POOL, 9, EVERY, 0.5) == [0, 2, 1, 3]  # k beyond the pool: all, once


def test_semantic_shows_the_most_similar_example_last() -> None:
    chosen = selector("semantic", 3).for_record("r", {"text": "query"})
    assert [e.id for e in chosen] == ["e2", "e1", "e0"]


def test_mmr_selector_uses_its_lambda() -> None:
    assert [e.id for e in selector("mmr", 2).for_record("r", {"text": "query"})] == ["e2", "e0"]
    same_as_knn = selector("mmr", 2, mmr_lambda=1.0).for_record("r", {"text": "query"})
    assert [e.id for e in same_as_knn] == ["e1", "e0"]


def test_a_pool_record_never_gets_itself_by_id() -> None:
    chosen = selector("semantic", 2).for_record("e0", {"text": "query"})
    assert [e.id for e in chosen] == ["e2", "e1"]


def test_a_record_never_gets_an_example_with_its_own_text() -> None:
    """The same record under another id is found by its text (e0's); e1, as near, stays."""
    chosen = selector("semantic", 2).for_record("other-id", {"text": "p0"})
    assert "e0" not in [e.id for e in chosen]
    assert [e.id for e in chosen] == ["e2", "e1"]


def test_semantic_needs_the_record_and_an_index() -> None:
    with pytest.raises(ValueError, match="record's data"):
        selector("semantic", 2).for_record("r")
    with pytest.raises(ValueError, match="needs an index"):
        ExampleSelector([Example(id="a", data={}, answer={})], 1, "semantic")


def test_text_of_joins_the_fields_in_order() -> None:
    data = {"title": "Hi", "body": "there", "n": 3, "tags": ["a"], "gone": None}
    assert text_of(data, ["body", "title", "n", "tags", "gone", "missing"]) == 'there\nHi\n3\n["a"]'


def test_the_task_file_names_the_strategy_embedder_and_lambda() -> None:
    base = {"name": "t", "labels": ["a", "b"]}
    spec = parse_task({**base, "examples": {"strategy": "mmr", "embedder": "tfidf"}})
    assert (spec.examples.strategy, spec.examples.embedder) == ("mmr", "tfidf")
    assert spec.examples.mmr_lambda == 0.5
    for bad in ({"strategy": "nearest"}, {"embedder": "bert"}, {"mmr_lambda": 1.5}):
        with pytest.raises(ConfigError, match="examples"):
            parse_task({**base, "examples": bad})
