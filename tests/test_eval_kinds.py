"""`llmlabel eval` for each task kind: the kind comes from the rows' provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.errors import ConfigError, InputError
from tests.test_cli import assert_one_line_error
from tests.test_cli import llmlabel as cli


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def row(rid: str, kind: str, label: Any, confidence: float = 1.0) -> dict[str, Any]:
    status = "labeled" if label is not None else "abstained"
    return {"id": rid, "status": status, "label": label, "confidence": confidence,
            "provenance": {"kind": kind}}  # fmt: skip


def test_multi_label(tmp_path: Path) -> None:
    gold = write(
        tmp_path / "g.jsonl", [{"id": "1", "labels": ["a", "b"]}, {"id": "2", "labels": []}]
    )
    preds = write(
        tmp_path / "p.jsonl",
        [row("1", "multi_label", ["b", "a"]), row("2", "multi_label", ["c"], 0.6)],
    )
    s = llmlabel.evaluate(preds, gold, resamples=20).summary
    assert s.kind == "multi_label" and s.confusion is None
    assert (s.correct, s.accuracy.value) == (1, 0.5)
    assert s.metrics["micro_f1"].value == pytest.approx(0.8)  # 2 hits, 3 predicted, 2 gold
    assert s.metrics["hamming_loss"].value == pytest.approx(1 / 6)
    assert [c.label for c in s.classes] == ["a", "b", "c"]


NER_GOLD = [
    {"id": "1", "text": "Ann met Bob", "entities": [{"start": 0, "end": 3, "label": "PER"},
                                                    {"start": 8, "end": 11, "label": "PER"}]},
    {"id": "2", "text": "in Rome", "entities": [{"start": 3, "end": 7, "label": "LOC"}]},
    {"id": "3", "text": "nothing", "entities": []},
]  # fmt: skip


def entity(start: int, end: int, label: str) -> dict[str, Any]:
    return {"start": start, "end": end, "label": label, "text": "?", "confidence": 1.0}


def test_ner_strict_span_scores_and_report(tmp_path: Path) -> None:
    gold = write(tmp_path / "g.jsonl", NER_GOLD)
    preds = write(tmp_path / "p.jsonl", [
        row("1", "ner", [entity(0, 3, "PER"), entity(8, 11, "LOC")], 0.6),
        row("2", "ner", [entity(3, 7, "LOC")]),
        row("3", "ner", None),
    ])  # fmt: skip
    result = llmlabel.evaluate(preds, gold, resamples=20, report=tmp_path / "r")
    s = result.summary
    assert (s.kind, s.correct, s.abstained) == ("ner", 1, 1)
    assert s.metrics["span_precision"].value == pytest.approx(2 / 3)
    assert s.metrics["span_recall"].value == pytest.approx(2 / 3)
    assert s.metrics["span_f1"].value == pytest.approx(2 / 3)
    # LOC: P 1/2 R 1/1 F1 2/3; PER: P 1/1 R 1/2 F1 2/3
    assert s.metrics["span_macro_f1"].value == pytest.approx(2 / 3)
    assert s.auroc == 1.0  # the right record is the confident one
    markdown = result.report.read_text() if result.report else ""
    assert "## Per entity type" in markdown and "span micro-F1 (strict)" in markdown
    assert "## Confusion matrix" not in markdown
    output = cli("eval", str(preds), "--gold", str(gold), "--resamples", "20")
    assert output.returncode == 0, output.stderr
    assert "3 ner records against gold" in output.stdout and "span micro-F1" in output.stdout


def test_relation_macro_f1_excludes_other(tmp_path: Path) -> None:
    gold = write(tmp_path / "g.jsonl", [
        {"id": "1", "relation": "CE", "relation_directed": "CE(e1,e2)"},
        {"id": "2", "relation": "CE", "relation_directed": "CE(e2,e1)"},
        {"id": "3", "relation": "Other", "relation_directed": "Other"},
    ])  # fmt: skip
    preds = write(tmp_path / "p.jsonl", [
        row("1", "relation", "CE(e1,e2)"), row("2", "relation", "CE(e1,e2)"),
        row("3", "relation", "CE(e1,e2)"),
    ])  # fmt: skip
    s = llmlabel.evaluate(preds, gold, resamples=20).summary
    assert s.accuracy.value == pytest.approx(1 / 3)
    # CE: 1 hit of 3 predicted, of 2 gold -> F1 0.4; Other is left out
    assert s.metrics["macro_f1_excl_other"].value == pytest.approx(0.4)
    assert s.confusion is not None


def test_mixed_or_mismatched_rows_are_one_line_errors(tmp_path: Path) -> None:
    gold = write(tmp_path / "g.jsonl", NER_GOLD)
    preds = write(tmp_path / "p.jsonl", [row("1", "ner", []), row("2", "classification", "x")])
    with pytest.raises(InputError, match="'2' is from a classification task, not ner"):
        llmlabel.evaluate(preds, gold)
    write(preds, [row("1", "ner", "PER")])
    # the row model refuses it, naming the line: a labeled ner row's label must be entities
    with pytest.raises(InputError, match=r"p\.jsonl:1: .*ner row's label is a list of \{start"):
        llmlabel.evaluate(preds, gold, allow_missing=True)
    with pytest.raises(ConfigError, match="cannot score task kind 'nope'"):
        llmlabel.evaluate(preds, gold, kind="nope")
    write(preds, [row(str(i), "ner", []) for i in (1, 2, 3)])
    bad_gold = write(tmp_path / "bad.jsonl", [{"id": "1", "label": "x"}, *NER_GOLD[1:]])
    result = cli("eval", str(preds), "--gold", str(bad_gold))
    assert_one_line_error(result, "gold record '1' has no entities", "hint:", '"entities"')
