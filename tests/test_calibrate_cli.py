"""`llmlabel calibrate`, `llmlabel eval --calibration`, and a real SmolLM2 run with
`calibration:` set, which writes raw and calibrated confidence and routes every row."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.io.calibfile import read_calibration
from tests.test_cli import assert_one_line_error
from tests.test_cli import llmlabel as cli

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT = ROOT / "examples" / "sentiment"
PREDICTIONS = SENTIMENT / "predictions.sample.jsonl"
GOLD = SENTIMENT / "reviews.gold.jsonl"


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def overconfident(tmp_path: Path, n: int = 400) -> tuple[Path, Path]:
    """Vote shares 1.0 (80% right) and 0.6 (40% right)."""
    predictions, gold = [], []
    for i in range(n):
        confidence, rate = (1.0, 8) if i % 2 else (0.6, 4)
        right = (i // 2) % 10 < rate
        label = "pos" if right else "neg"
        predictions.append(
            {"id": f"r{i}", "status": "labeled", "label": label, "confidence": confidence}
        )
        gold.append({"id": f"r{i}", "label": "pos"})
    return write_jsonl(tmp_path / "p.jsonl", predictions), write_jsonl(tmp_path / "g.jsonl", gold)


def test_calibrate_writes_a_file_and_reports_held_out_ece(tmp_path: Path) -> None:
    out = tmp_path / "calib.json"
    result = cli("calibrate", str(PREDICTIONS), "--gold", str(GOLD), "-o", str(out),
                 "--target-accuracy", "0.8")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "ECE" in result.stdout and "20 held-out records" in result.stdout
    assert "keep confidence ≥" in result.stdout
    file = read_calibration(out).file
    assert file.map.method == "platt" and file.held_out.records == 20
    assert file.selection is not None and file.selection.target == 0.8
    assert file.gold.sha256 == hashlib.sha256(GOLD.read_bytes()).hexdigest()


def test_eval_with_a_calibration_measures_only_records_it_did_not_see(tmp_path: Path) -> None:
    predictions, gold = overconfident(tmp_path)
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"id": f"r{i}", "label": "pos"} for i in range(200)])
    out = tmp_path / "calib.json"
    fitted = cli("calibrate", str(predictions), "--gold", str(dev), "-o", str(out),
                 "--allow-missing", "--method", "platt", "--target-accuracy", "0.65")  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    result = cli("eval", str(predictions), "--gold", str(gold), "--calibration", str(out))
    assert result.returncode == 0, result.stderr
    assert "measured on 200 records it did not see (200 it was fitted or chosen on" in (
        result.stdout
    )
    assert "threshold" in result.stdout and "keeps 100 of 200" in result.stdout
    again = cli("eval", str(predictions), "--gold", str(dev), "--calibration", str(out),
                "--allow-missing")  # fmt: skip
    assert_one_line_error(again, "fitted or chosen on every one of these records")
    assert again.returncode == 2 and "accuracy" not in again.stdout


def test_bad_input_is_a_one_line_error(tmp_path: Path) -> None:
    out = tmp_path / "calib.json"
    bad = cli("calibrate", str(PREDICTIONS), "--gold", str(GOLD), "-o", str(out),
              "--method", "histogram")  # fmt: skip
    assert_one_line_error(bad, "unknown calibration method 'histogram'", "isotonic")
    assert bad.returncode == 2 and not out.exists()
    out.write_text("{")
    broken = cli("eval", str(PREDICTIONS), "--gold", str(GOLD), "--calibration", str(out))
    assert_one_line_error(broken, "calib.json: calibration file is not JSON")
    assert broken.returncode == 2


def test_a_run_with_calibration_writes_raw_and_calibrated_confidence(
    tmp_path: Path, smollm2_path: Path
) -> None:
    calib = tmp_path / "calib.json"
    llmlabel.calibrate(PREDICTIONS, GOLD, calib, method="platt", target_accuracy=0.5, delta=0.2)
    loaded = read_calibration(calib)
    router = loaded.file.router()
    assert router.threshold is not None
    out = tmp_path / "out.jsonl"
    overrides = {"backend.model": "smollm2-135m", "samples": 3, "calibration": str(calib)}
    llmlabel.label(SENTIMENT / "task.yaml", SENTIMENT / "reviews.jsonl", out, limit=4,
                   overrides=overrides, cache=tmp_path / "c.db")  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4
    for row in rows:
        assert row["provenance"]["calibration"] == {
            "file": "calib.json", "sha256": loaded.sha256, "method": "platt",
            "threshold": router.threshold,
        }  # fmt: skip
        if row["status"] == "labeled":
            raw = row["probs"][row["label"]]  # the default confidence: logprob
            assert row["confidence_raw"] == pytest.approx(raw, abs=1e-6)
            assert row["confidence"] == router.confidence(row["confidence_raw"])
            assert row["route"] == ("keep" if row["confidence"] >= router.threshold else "review")
        else:
            assert row["route"] == "review" and row["confidence"] == 0.0
    # Without a calibration the rows are as before (same cached answers, no model call).
    del overrides["calibration"]
    plain = tmp_path / "plain.jsonl"
    result = llmlabel.label(SENTIMENT / "task.yaml", SENTIMENT / "reviews.jsonl", plain, limit=4,
                            overrides=overrides, cache=tmp_path / "c.db")  # fmt: skip
    if not any(r["status"] == "failed" for r in rows):  # a timeout on a busy machine is asked again
        assert result.stats.requests == 0
    for row, before in zip(
        (json.loads(line) for line in plain.read_text().splitlines()), rows, strict=True
    ):
        assert "route" not in row and "confidence_raw" not in row
        assert "calibration" not in row["provenance"]
        if row["status"] == before["status"] == "labeled":
            assert row["confidence"] == before["confidence_raw"]
    # Scoring the run's output with the calibration starts again from the raw confidence.
    again = llmlabel.calibrate(out, GOLD, tmp_path / "again.json", allow_missing=True,
                               target_accuracy=None)  # fmt: skip
    assert again.calibration.selection is None


def test_a_task_refuses_a_calibration_of_another_kind(tmp_path: Path) -> None:
    calib = tmp_path / "calib.json"
    llmlabel.calibrate(PREDICTIONS, GOLD, calib)
    data = json.loads(calib.read_text())
    data["kind"] = "multi_label"
    calib.write_text(json.dumps(data))
    result = cli("run", str(SENTIMENT / "task.yaml"), "-i", str(SENTIMENT / "reviews.jsonl"),
                 "--dry-run", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr  # no calibration: fine
    task = tmp_path / "task.yaml"
    text = (SENTIMENT / "task.yaml").read_text().replace("../../", str(ROOT) + "/")
    task.write_text(text.replace("path: examples.jsonl", f"path: {SENTIMENT}/examples.jsonl")
                    + "calibration: calib.json\n")  # fmt: skip
    refused = cli("run", str(task), "-i", str(SENTIMENT / "reviews.jsonl"), "--dry-run")
    assert_one_line_error(refused, "was fitted on multi_label predictions, not classification")
    assert refused.returncode == 2


def test_the_guarantee_script_runs_on_the_sample(tmp_path: Path) -> None:
    out = tmp_path / "calibration.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "eval" / "calibration_guarantee.py"), str(PREDICTIONS),
         "--gold", str(GOLD), "--splits", "5", "--targets", "0.6", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line for line in out.read_text().splitlines() if line.startswith("| predictions.")]
    assert len(rows) == 3 and all("| 0.6 |" in row for row in rows)
