"""`llmlabel distill`: a real student (TF-IDF + logistic regression), its report and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import llmlabel.api as api
from llmlabel.commands.distill import load_student
from llmlabel.errors import ConfigError, InputError
from llmlabel.io.plots import png_size
from tests.test_cli import assert_one_line_error, llmlabel

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT = ROOT / "examples" / "sentiment"
PREDICTIONS = SENTIMENT / "predictions.sample.jsonl"
INPUT = SENTIMENT / "reviews.jsonl"
GOLD = SENTIMENT / "reviews.gold.jsonl"


def write(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    return path


def test_help() -> None:
    result = llmlabel("distill", "--help")
    assert result.returncode == 0 and "--min-confidence" in result.stdout


def test_overlapping_gold_is_cross_fitted_and_reported(tmp_path: Path) -> None:
    result = api.distill(
        PREDICTIONS, INPUT, GOLD, tmp_path / "r", embedder="tfidf", save=tmp_path / "s.joblib"
    )
    assert result.gold == 40 and result.silver == 38  # one failed, one abstained row
    assert result.folds == 5 and "cross-fitted" in result.notes[0]
    assert result.teacher_accuracy == pytest.approx(36 / 40)
    assert 0.0 <= result.accuracy.low <= result.accuracy.value <= result.accuracy.high <= 1.0
    assert [p.records for p in result.size_curve][-1] == 38
    assert [p.x for p in result.threshold_curve] == [0.0, 0.8, 1.0]
    assert [p.records for p in result.threshold_curve] == [38, 35, 29]
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["accuracy"]["value"] == result.accuracy.value
    assert "## Accuracy vs confidence threshold" in (tmp_path / "r" / "report.md").read_text()
    for name in ("size_curve", "threshold_curve"):
        assert png_size((tmp_path / "r" / "plots" / f"{name}.png").read_bytes())[0] > 100
    student = load_student(tmp_path / "s.joblib")
    assert student.predict([{"text": "Broke after a day, awful."}])[0] in ("positive", "negative")


def test_a_separate_gold_set_needs_no_folds_and_learns_the_silver(tmp_path: Path) -> None:
    words = {"positive": "great lovely wonderful", "negative": "awful broken terrible"}
    silver = [{"id": f"s{i}{k}", "text": f"{words[k]} item {i}"} for i in range(20) for k in words]
    labels = [k for _ in range(20) for k in words]
    predictions = [
        {"id": s["id"], "status": "labeled", "label": k, "confidence": 1.0, "votes": {k: 3}}
        for s, k in zip(silver, labels, strict=True)
    ]
    gold = [{"id": f"g-{k}", "text": f"a {words[k]} day", "label": k} for k in words]
    result = api.distill(
        write(tmp_path / "p.jsonl", predictions),
        write(tmp_path / "in.jsonl", silver),
        write(tmp_path / "g.jsonl", gold),
        tmp_path / "r",
        embedder="tfidf",
        min_confidence=0.5,
    )
    assert result.folds == 1 and result.notes == [] and result.teacher_accuracy is None
    assert result.accuracy.value == 1.0


def test_bad_input_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--min-confidence"):
        api.distill(PREDICTIONS, INPUT, GOLD, tmp_path / "r", min_confidence=2.0)
    with pytest.raises(InputError, match="no silver record to train on at confidence >= 1"):
        low = [{"id": "r01", "status": "labeled", "label": "positive", "confidence": 0.6}]
        api.distill(
            write(tmp_path / "p.jsonl", low), INPUT, GOLD, tmp_path / "r", min_confidence=1.0
        )
    with pytest.raises(InputError, match="has no 'text' and no record in --input"):
        api.distill(
            PREDICTIONS,
            INPUT,
            write(tmp_path / "g.jsonl", [{"id": "zz", "label": "x"}]),
            tmp_path / "r",
        )
    result = llmlabel(
        "distill",
        str(PREDICTIONS),
        "-i",
        str(tmp_path / "none.jsonl"),
        "-g",
        str(GOLD),
        "--report",
        str(tmp_path / "r"),
    )
    assert_one_line_error(result, "none.jsonl")
    result = llmlabel(
        "distill",
        str(PREDICTIONS),
        "-i",
        str(INPUT),
        "-g",
        str(GOLD),
        "--report",
        str(tmp_path / "r"),
        "--embedder",
        "bert",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
