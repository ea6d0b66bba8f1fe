"""Free text end to end: the task file rules, a user schema, a real SmolLM2 run (medoid vote
invariants on every row) and eval's chrF / ROUGE-L."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.core.spec import parse_task
from llmlabel.core.textsim import similarity
from llmlabel.errors import ConfigError, SchemaError
from llmlabel.task import load, prepare

ROOT = Path(__file__).resolve().parent.parent
SUMMARIES = ROOT / "examples" / "summaries"
SMALL = {"backend.model": "smollm2-135m", "backend.parallel": 2, "samples": 3}


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_free_text_task_takes_no_labels() -> None:
    assert parse_task({"name": "t", "kind": "free_text"}).label_names == []
    with pytest.raises(ConfigError, match="free_text tasks have no label list"):
        parse_task({"name": "t", "kind": "free_text", "labels": ["a"]})


def test_a_user_schema_needs_a_text_string(tmp_path: Path) -> None:
    (tmp_path / "s.py").write_text(
        "from pydantic import BaseModel, Field\n"
        "class Short(BaseModel):\n    text: str = Field(max_length=80)\n"
        "class Wrong(BaseModel):\n    summary: str\n"
    )
    task = prepare(parse_task({"name": "t", "kind": "free_text", "schema": "s.py:Short"}), tmp_path)
    assert task.answer_model.__name__ == "Short" and task.labels == []
    wrong = parse_task({"name": "t", "kind": "free_text", "schema": "s.py:Wrong"})
    with pytest.raises(SchemaError, match="no 'text: str' field"):
        prepare(wrong, tmp_path)


def test_examples_keep_their_input_text_and_answer_with_the_summary_column() -> None:
    task = load(SUMMARIES / "task.yaml")
    messages, _ = task.messages_for("m01", {"text": "Where is my parcel?"})
    assert messages[1].content.startswith("Hi, I ordered the blue kettle")
    assert json.loads(messages[2].content) == {
        "text": "The customer's kettle order is two weeks late and they want it traced."
    }
    assert '{"text": "<the text>"}' in messages[0].content


def test_free_text_on_the_real_model_votes_the_medoid(tmp_path: Path, smollm2_path: Path) -> None:
    out = tmp_path / "summaries.jsonl"
    result = llmlabel.label(
        SUMMARIES / "task.yaml",
        SUMMARIES / "messages.jsonl",
        out,
        limit=2,
        overrides={**SMALL, "backend.timeout": 900},
    )
    rows = read_rows(out)
    assert [r["id"] for r in rows] == ["m01", "m02"] and result.stats.failed == 0
    for row in rows:
        assert row["provenance"]["kind"] == "free_text"
        assert 0.0 <= row["confidence"] <= 1.0
        assert sum(row["votes"].values()) + len(row["invalid"]) == 3
        if row["status"] == "abstained":
            assert row["reason"].startswith("no valid answer in 3 samples")
            continue
        samples = [text for text, n in row["votes"].items() for _ in range(n)]
        assert row["label"] in row["votes"] and row["label"] == row["label"].strip()
        mean = sum(similarity(row["label"], s) for s in samples) / 3
        assert row["confidence"] == pytest.approx(mean, abs=1e-6)
        best = max(sum(similarity(c, s) for s in samples) for c in row["votes"])
        assert sum(similarity(row["label"], s) for s in samples) == pytest.approx(best)


def test_eval_scores_free_text_with_chrf_and_rouge_l(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "status": "labeled", "label": "The cat sat.", "confidence": 0.9},
        {"id": "b", "status": "labeled", "label": "a dog", "confidence": 0.4},
    ]
    predictions, gold = tmp_path / "p.jsonl", tmp_path / "g.jsonl"
    predictions.write_text(
        "".join(json.dumps({**r, "provenance": {"kind": "free_text"}}) + "\n" for r in rows)
    )
    gold.write_text(
        json.dumps({"id": "a", "reference": "the cat  sat."})
        + "\n"
        + json.dumps({"id": "b", "reference": "a cat"})
        + "\n"
    )
    summary = llmlabel.evaluate(predictions, gold).summary
    assert summary.kind == "free_text" and summary.correct == 1
    assert summary.metrics["rouge_l"].value == pytest.approx((1.0 + 0.5) / 2)
    assert 0.0 < summary.metrics["chrf"].value < 1.0
