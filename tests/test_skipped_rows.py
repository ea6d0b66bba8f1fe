"""The output of an ``--on-error skip`` run is read by every command: ``skipped`` rows (bad
records) are one of the statuses, scored as wrong by eval and left out of export, review and
audit, whose input file may hold the bad lines the run skipped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmlabel.core.metrics import STATUSES

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "examples/sentiment/task.yaml"
GOLD = ROOT / "examples/sentiment/reviews.gold.jsonl"


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "llmlabel", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def skipped_run(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> Path:
    """Three reviews, an empty one (its id in gold) and a line that is not JSON, labeled with
    ``--on-error skip``."""
    work = tmp_path_factory.mktemp("skipped")
    reviews = (ROOT / "examples/sentiment/reviews.jsonl").read_text().splitlines()[:3]
    blank = json.dumps({"id": "r04", "text": "   "})
    (work / "in.jsonl").write_text("\n".join([*reviews, blank, "not json"]) + "\n")
    ran = cli(
        "run", TASK, "-i", work / "in.jsonl", "-o", work / "out.jsonl", "--model", smollm2_path,
        "--on-error", "skip", "--no-cache", "--samples", "1",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    rows = [json.loads(line) for line in (work / "out.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in rows) == ["labeled"] * 3 + ["skipped"] * 2
    return work


def test_statuses_are_defined_once() -> None:
    assert STATUSES == ("labeled", "abstained", "failed", "skipped")
    for module in ("commands/export", "commands/review", "commands/audit", "core/evaluation"):
        source = (ROOT / "llmlabel" / f"{module}.py").read_text()
        assert '"labeled", "abstained"' not in source, module


def test_eval_scores_a_skipped_record_as_wrong(skipped_run: Path) -> None:
    report = skipped_run / "report"
    ran = cli("eval", skipped_run / "out.jsonl", "--gold", GOLD, "--allow-missing",
              "--report", report)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "skipped 1" in ran.stdout
    summary = json.loads((report / "summary.json").read_text())
    assert summary["records"] == 4 and summary["skipped"] == 1 and summary["labeled"] == 3


def test_export_review_and_audit_leave_skipped_rows_out(skipped_run: Path) -> None:
    out, data = skipped_run / "out.jsonl", skipped_run / "in.jsonl"
    exported = cli("export", out, "-i", data, "--output", skipped_run / "silver.jsonl",
                   "--format", "jsonl", "--min-confidence", "0")  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    silver = (skipped_run / "silver.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in silver) == ["r01", "r02", "r03"]
    review = cli("review", out, "-i", data, "--task", TASK, "--output", skipped_run / "queue",
                 "--budget", "10")  # fmt: skip
    assert review.returncode == 0, review.stderr
    assert "of 3 records" in review.stdout
    audit = cli("audit", out, "--gold", GOLD, "-o", skipped_run / "audit", "--allow-missing")
    assert audit.returncode == 0, audit.stderr
    assert "3 scored" in audit.stdout
