"""The evaluation report: summary.json round-trips, report.md has every table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmlabel.core.evaluation import EvalSummary, Options, Prediction, evaluate, pair
from llmlabel.core.reliability import CoveragePoint
from llmlabel.errors import OutputError
from llmlabel.io.report import _thin, render_markdown, write_report

SOURCES = {"predictions": "p.jsonl", "gold": "g.jsonl"}


def summary(allow_missing: bool = False) -> EvalSummary:
    preds = [
        Prediction("1", "labeled", "a|b", 0.9),
        Prediction("2", "labeled", "c", 0.6),
        Prediction("3", "failed", None, 0.0),
        Prediction("9", "labeled", "c", 1.0),
    ]
    gold = [("1", "a|b"), ("2", "a|b"), ("3", "c")]
    outcomes, pairing = pair(preds, gold, allow_missing=allow_missing)
    return evaluate(outcomes, pairing, Options(resamples=20))


def test_write_report_writes_both_files(tmp_path: Path) -> None:
    written = summary(allow_missing=True)
    path = write_report(written, tmp_path / "new" / "dir", SOURCES)
    assert path == tmp_path / "new" / "dir" / "report.md"
    data = json.loads((path.parent / "summary.json").read_text())
    assert data.pop("sources") == SOURCES
    assert EvalSummary.model_validate(data) == written
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "plots", "report.html", "report.md", "summary.json"
    ]  # fmt: skip


def test_report_md_has_every_section_and_escapes_pipes() -> None:
    text = render_markdown(summary(allow_missing=True), SOURCES)
    for heading in (
        "## Headline",
        "## Per class",
        "## Confusion matrix",
        "## Calibration, equal-width bins",
        "## Calibration, equal-mass bins",
        "## Coverage and accuracy",
    ):
        assert heading in text
    assert "| a\\|b | 1 | 1 | 0 | 0 |" in text  # gold a|b: one right, one called c
    assert "1 of 3 gold ids had no prediction" not in text
    assert "0 of 3 gold ids had no prediction, 1 of 4 predictions had no gold label" in text
    assert "1 failed" in text


def test_report_folder_that_is_a_file_is_an_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "report"
    blocker.write_text("")
    with pytest.raises(OutputError, match="cannot write the report"):
        write_report(summary(allow_missing=True), blocker, SOURCES)


def test_long_curves_are_thinned_keeping_both_ends() -> None:
    curve = [
        CoveragePoint(threshold=1 - i / 100, kept=i + 1, coverage=0, accuracy=1) for i in range(100)
    ]
    shown = _thin(curve, 20)
    assert len(shown) == 20 and shown[0] == curve[0] and shown[-1] == curve[-1]
