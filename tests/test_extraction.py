"""Structured extraction end to end: the task file rules, the prompt, a real SmolLM2 run (every
row's invariants, the label validated against the nested schema) and eval's per-field scoring."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.core.spec import parse_task
from llmlabel.errors import ConfigError, InputError
from llmlabel.task import load, prepare

ROOT = Path(__file__).resolve().parent.parent
INVOICES = ROOT / "examples" / "invoices"
SMALL = {"backend.model": "smollm2-135m", "backend.parallel": 2, "samples": 3}

sys.path.insert(0, str(ROOT))
from schemas.invoice import Invoice  # noqa: E402


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_an_extraction_task_needs_a_schema_and_takes_no_labels() -> None:
    with pytest.raises(ConfigError, match="need a `schema:`"):
        parse_task({"name": "t", "kind": "extraction"})
    with pytest.raises(ConfigError, match="remove `labels:`"):
        parse_task({"name": "t", "kind": "extraction", "labels": ["a"], "schema": "s.py:S"})
    with pytest.raises(ConfigError, match="label_balanced needs labels"):
        parse_task(
            {
                "name": "t",
                "kind": "extraction",
                "schema": "s.py:S",
                "examples": {"strategy": "label_balanced"},
            }
        )


def test_the_prompt_shows_the_schema_skeleton_and_the_examples_answers() -> None:
    task = load(INVOICES / "task.yaml")
    assert task.labels == [] and task.kind.name == "extraction"
    assert json.loads(task.answer_format)["vendor"] == {
        "name": "<text>",
        "country": "<text> or null",
    }
    messages, shown = task.messages_for("i01", {"text": "INVOICE from X"})
    assert shown == ["ex1", "ex2"]
    assert task.answer_format in messages[0].content
    first_answer = json.loads(messages[2].content)
    assert Invoice.model_validate(first_answer).vendor.name == "Nordlicht Design GmbH"
    assert "answer" not in messages[1].content and messages[-1].content == "INVOICE from X"


def test_an_example_without_an_answer_object_names_the_row(tmp_path: Path) -> None:
    spec = parse_task(
        {
            "name": "t",
            "kind": "extraction",
            "schema": str(ROOT / "schemas/invoice.py") + ":Invoice",
            "examples": {"items": [{"id": "e1", "text": "x", "answer": "not an object"}]},
        }
    )
    with pytest.raises(InputError, match=r"examples.items\[0\].*'answer' is not an object"):
        prepare(spec, tmp_path)


def test_extraction_on_the_real_model_gives_valid_nested_answers(
    tmp_path: Path, smollm2_path: Path
) -> None:
    out = tmp_path / "invoices.jsonl"
    overrides = {**SMALL, "max_tokens": 200, "backend.timeout": 900}
    result = llmlabel.label(
        INVOICES / "task.yaml", INVOICES / "invoices.jsonl", out, limit=2, overrides=overrides
    )
    rows = read_rows(out)
    # rows are written as records finish, in any order
    assert sorted(r["id"] for r in rows) == ["i01", "i02"] and result.stats.failed == 0
    for row in rows:
        assert row["provenance"]["kind"] == "extraction"
        assert 0.0 <= row["confidence"] <= 1.0
        valid = 3 - len(row["invalid"])
        assert all(r.startswith("sample ") for r in row["invalid"])
        if row["status"] == "abstained":
            assert valid == 0 and row["reason"].startswith("no valid answer in 3 samples")
            continue
        assert row["status"] == "labeled" and valid >= 1
        Invoice.model_validate(row["label"])  # the voted fields fit the schema together
        assert set(row["votes"]) == set(row["label_confidence"])
        assert {"vendor.name", "invoice_date", "currency", "total"} <= set(row["votes"])
        for path, votes in row["votes"].items():
            assert 1 <= votes <= valid
            assert row["label_confidence"][path] == round(votes / 3, 6)
        assert row["confidence"] == pytest.approx(min(row["label_confidence"].values()), abs=1e-6)
    assert result.stats.labels == {}  # no label totals for a kind without labels


def test_eval_scores_extraction_per_field(tmp_path: Path) -> None:
    gold: dict[str, Any] = {"vendor": {"name": "Acme", "country": None}, "total": 10.0}
    rows: list[dict[str, Any]] = [
        {"id": "a", "status": "labeled", "label": {**gold, "total": 10}, "confidence": 0.9},
        {"id": "b", "status": "labeled", "label": {**gold, "total": 9.0}, "confidence": 0.6},
        {"id": "c", "status": "abstained", "label": None, "confidence": 0.0},
    ]
    provenance = {"provenance": {"kind": "extraction"}}
    predictions, gold_file = tmp_path / "p.jsonl", tmp_path / "g.jsonl"
    predictions.write_text("".join(json.dumps({**r, **provenance}) + "\n" for r in rows))
    gold_file.write_text(
        "".join(json.dumps({"id": i, "answer": gold}) + "\n" for i in ("a", "b", "c"))
    )
    summary = llmlabel.evaluate(predictions, gold_file, report=tmp_path / "report").summary
    assert summary.kind == "extraction" and summary.correct == 1
    assert summary.accuracy.value == pytest.approx(1 / 3)
    assert summary.metrics["field_accuracy"].value == pytest.approx(5 / 9)
    fields = {c.label: c for c in summary.classes}
    assert fields["total"].recall == pytest.approx(1 / 3)
    assert fields["vendor.name"].precision == 1.0
    assert "Per field" in (tmp_path / "report" / "report.md").read_text()
