"""NER and relation tasks end to end on the real SmolLM2-135M model: the invariants of every
row (valid offsets, votes that add up, confidences in [0, 1], abstentions with a reason), then
`llmlabel eval` on the rows against the example gold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.core.spans import bio_spans, token_offsets
from llmlabel.task import load

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = 3
LIMIT = 2
SMALL = {
    "backend.model": "smollm2-135m",
    "backend.parallel": SAMPLES,
    "backend.timeout": 900,  # the shared test machine can be very busy
    "samples": SAMPLES,
}


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_common(row: dict[str, Any]) -> None:
    assert row["status"] in ("labeled", "abstained"), row.get("error")
    assert 0.0 <= row["confidence"] <= 1.0
    assert len(row["invalid"]) <= SAMPLES
    if row["status"] == "abstained":
        assert row["reason"] and row["reason"].startswith(f"no valid answer in {SAMPLES}")
        assert row["confidence"] == 0.0


def test_ner_rows_hold_valid_offsets_votes_and_bio_tags(tmp_path: Path, smollm2_path: Path) -> None:
    folder = ROOT / "examples" / "ner"
    out = tmp_path / "ner.jsonl"
    overrides = {**SMALL, "max_tokens": 80}
    llmlabel.label(
        folder / "task.yaml",
        folder / "news.jsonl",
        out,
        limit=LIMIT,
        overrides=overrides,
        cache=False,
    )
    records = {r["id"]: r for r in read(folder / "news.jsonl")}
    rows = read(out)
    assert sorted(r["id"] for r in rows) == sorted(list(records)[:LIMIT])
    for row in rows:
        check_common(row)
        text, tokens = records[row["id"]]["text"], records[row["id"]]["tokens"]
        valid = SAMPLES - len(row["invalid"])
        assert all(0 < n <= valid for n in row["votes"].values())
        assert set(row["votes"]) == set(row.get("label_confidence") or {})
        assert all(d.startswith("sample ") for d in row.get("dropped_spans", []))
        if row["status"] != "labeled":
            continue
        previous_end = 0
        for entity in row["label"]:
            assert previous_end <= entity["start"] < entity["end"] <= len(text)
            assert text[entity["start"] : entity["end"]] == entity["text"]
            assert entity["label"] in ("PER", "ORG", "LOC", "MISC")
            assert 0.5 * valid / SAMPLES < entity["confidence"] <= 1.0
            previous_end = entity["end"]
        assert row["confidence"] == min(row["label_confidence"].values(), default=valid / SAMPLES)
        offsets = token_offsets(tokens, text)
        assert offsets is not None and len(row["tags"]) == len(tokens)
        tagged = {(offsets[i][0], offsets[j - 1][1], t) for i, j, t in bio_spans(row["tags"])}
        assert len(tagged) == len(row["label"])  # one chunk per kept entity
    gold = folder / "news.gold.jsonl"
    summary = llmlabel.evaluate(out, gold, allow_missing=True, resamples=20).summary
    assert summary.kind == "ner" and summary.records == LIMIT
    assert 0.0 <= summary.metrics["span_f1"].value <= 1.0


def test_relation_rows_vote_over_the_directed_labels(tmp_path: Path, smollm2_path: Path) -> None:
    folder = ROOT / "examples" / "relations"
    out = tmp_path / "rel.jsonl"
    llmlabel.label(
        folder / "task.yaml",
        folder / "sentences.jsonl",
        out,
        limit=LIMIT,
        overrides=SMALL,
        cache=False,
    )
    labels = load(folder / "task.yaml").labels
    rows = read(out)
    assert len(rows) == LIMIT
    for row in rows:
        check_common(row)
        assert sum(row["votes"].values()) + len(row["invalid"]) == SAMPLES
        if row["status"] == "labeled":
            assert row["label"] in labels
            # the default confidence: the label's probability from the token logprobs
            assert row["confidence_method"] == "logprob"
            assert row["confidence"] == pytest.approx(row["probs"][row["label"]], abs=1e-6)
            assert set(row["probs"]) == set(labels)
            assert sum(row["probs"].values()) == pytest.approx(1.0, abs=1e-5)
    summary = llmlabel.evaluate(out, folder / "sentences.gold.jsonl", allow_missing=True).summary
    assert summary.kind == "relation" and "macro_f1_excl_other" in summary.metrics
