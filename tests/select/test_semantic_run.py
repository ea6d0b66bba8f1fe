"""Semantic selection through a real task: the pool cache across prepares, and a real
SmolLM2 run whose rows show each record's nearest examples."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import llmlabel
from llmlabel.select.embed import Matrix, MiniLMEmbedder
from llmlabel.task import load

ROOT = Path(__file__).resolve().parent.parent.parent
TASK = ROOT / "examples" / "sentiment" / "task.yaml"
EXAMPLES = ROOT / "examples" / "sentiment" / "examples.jsonl"
RECORDS = [
    {"id": "r1", "text": "The coffee grinder is noisy but the espresso tastes wonderful."},
    {"id": "r2", "text": "Check-in took an hour and the room smelled of smoke."},
    {"id": "ex2", "text": "The charger cable frayed within days."},  # also a pool example
]


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMLABEL_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_pool_is_embedded_once_and_reused_by_the_next_prepare(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    real = MiniLMEmbedder.embed

    def counted(self: MiniLMEmbedder, texts: Sequence[str]) -> Matrix:
        batches.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(MiniLMEmbedder, "embed", counted)
    overrides = {"examples.strategy": "semantic", "examples.embedder": "minilm"}
    first = load(TASK, overrides)
    second = load(TASK, overrides)
    assert batches == [8]  # the 8 pool examples, once
    assert len(list((cache_home / "embeddings").glob("minilm-*.npy"))) == 1
    record = RECORDS[0]
    assert first.messages_for("r1", record) == second.messages_for("r1", record)
    assert batches == [8, 1, 1]  # each record is embedded when it is labeled


def test_tfidf_embedder_is_named_in_the_provenance(cache_home: Path) -> None:
    task = load(TASK, {"examples.strategy": "mmr", "examples.embedder": "tfidf"})
    assert task.provenance()["examples"] == {
        "strategy": "mmr",
        "k": 4,
        "embedder": "tfidf: " + task.selector._index.embedder.model,  # type: ignore[union-attr]
    }


def expected_examples(text: str, own_id: str) -> list[str]:
    """The 2 nearest pool examples by MiniLM cosine, computed here independently."""
    pool = [json.loads(line) for line in EXAMPLES.read_text().splitlines()]
    pool = [row for row in pool if row["id"] != own_id and row["text"] != text]
    minilm = MiniLMEmbedder()
    scores = minilm.embed([row["text"] for row in pool]) @ minilm.embed([text])[0]
    top = [pool[i]["id"] for i in np.argsort(-scores, kind="stable")[:2]]
    return top[::-1]


def test_semantic_run_on_smollm2_shows_each_record_its_nearest_examples(
    tmp_path: Path, cache_home: Path, smollm2_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    overrides = {
        "backend.model": str(smollm2_path),
        "samples": 1,
        "examples.strategy": "semantic",
        "examples.k": 2,
    }
    input_file = tmp_path / "in.jsonl"
    input_file.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    llmlabel.label(TASK, input_file, output, cache=tmp_path / "c.db", overrides=overrides)
    rows = {row["id"]: row for row in map(json.loads, output.read_text().splitlines())}
    assert set(rows) == {"r1", "r2", "ex2"}
    for record in RECORDS:
        row = rows[record["id"]]
        assert row["status"] == "labeled" and row["label"] in ("positive", "negative")
        assert row["examples"] == expected_examples(record["text"], record["id"])
    assert rows["r1"]["examples"] != rows["r2"]["examples"]
    assert "ex2" not in rows["ex2"]["examples"]
    embedder = rows["r1"]["provenance"]["examples"]["embedder"]
    assert embedder.startswith("minilm: all-MiniLM-L6-v2")
