"""Relation triples on the real SmolLM2-135M model: located heads/tails, per-triple votes, eval."""

from __future__ import annotations

import json
from pathlib import Path

import llmlabel
from llmlabel.core.triples import Triple

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "examples" / "triples"
TASK = FOLDER / "task.yaml"
SMALL = {
    "backend.model": "smollm2-135m",
    "backend.parallel": 3,
    "backend.timeout": 600,
    "samples": 3,
}


def test_triples_on_smollm2_keep_the_pipeline_invariants(
    tmp_path: Path, smollm2_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    llmlabel.label(
        TASK, FOLDER / "sentences.jsonl", out, limit=2, overrides=SMALL, cache=tmp_path / "c.db"
    )
    texts = {
        r["id"]: r["text"]
        for r in map(json.loads, (FOLDER / "sentences.jsonl").read_text().splitlines())
    }
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        text = texts[row["id"]]
        assert row["status"] in ("labeled", "abstained"), row["error"]
        assert 0.0 <= row["confidence"] <= 1.0
        if row["status"] == "abstained":
            assert row["reason"] and len(row["invalid"]) == 3  # explained
            continue
        valid = 3 - len(row["invalid"])
        assert all(1 <= n <= valid for n in row["votes"].values())
        for triple in row["label"]:  # valid offsets, kept by a majority of valid samples
            for end in ("head", "tail"):
                span = triple[end]
                assert text[span["start"] : span["end"]] == span["text"]
            key = Triple(
                triple["head"]["start"],
                triple["head"]["end"],
                triple["relation"],
                triple["tail"]["start"],
                triple["tail"]["end"],
                triple["head"]["text"],
                triple["tail"]["text"],
            ).key
            assert 2 * row["votes"][key] > valid
            # confidence: logprob (the default): the votes weighed by the triple's token
            # probabilities, so at most the vote share
            assert row["confidence_method"] == "logprob"
            assert 0.0 < triple["confidence"] <= row["votes"][key] / 3 + 1e-6
            assert triple["relation"] in ("born_in", "works_for", "located_in")
        assert all(d.startswith("sample ") for d in row["dropped_triples"])
    summary = llmlabel.evaluate(out, FOLDER / "sentences.gold.jsonl", allow_missing=True).summary
    dumped = json.dumps(summary.model_dump(mode="json"))
    assert "triple_f1" in dumped and "triple_macro_f1_excl_other" in dumped
