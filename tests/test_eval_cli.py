"""`llmlabel eval` end to end in a subprocess, on small fixtures written here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.test_cli import assert_one_line_error, llmlabel

# ten records: 7 right (confidence 1.0 or 0.8), 2 wrong (0.6 and 0.8), 1 abstained, 1 failed
GOLD = {f"r{i}": ("pos" if i % 2 else "neg") for i in range(11)}
FLIP = {"pos": "neg", "neg": "pos"}


def prediction(rid: str) -> dict[str, Any]:
    gold, n = GOLD[rid], int(rid[1:])
    if n == 9:
        return {"id": rid, "status": "abstained", "label": None, "confidence": 0.0,
                "reason": "no valid answer in 3 samples"}  # fmt: skip
    if n == 10:
        return {"id": rid, "status": "failed", "label": None, "confidence": 0.0, "error": "boom"}
    label, confidence = {3: (FLIP[gold], 0.6), 6: (FLIP[gold], 0.8), 7: (gold, 0.8)}.get(
        n, (gold, 1.0)
    )
    return {"id": rid, "status": "labeled", "label": label, "confidence": confidence}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def fixtures(tmp_path: Path, ids: list[str] | None = None) -> tuple[Path, Path]:
    ids = list(GOLD) if ids is None else ids
    preds = write_jsonl(tmp_path / "preds.jsonl", [prediction(i) for i in ids])
    gold = write_jsonl(
        tmp_path / "gold.jsonl", [{"id": i, "text": f"t {i}", "label": g} for i, g in GOLD.items()]
    )
    return preds, gold


def test_eval_prints_the_summary_and_writes_the_report(tmp_path: Path) -> None:
    preds, gold = fixtures(tmp_path)
    report = tmp_path / "report"
    result = llmlabel("eval", str(preds), "--gold", str(gold), "--report", str(report))
    assert result.returncode == 0, result.stderr
    for needle in ("accuracy", "0.636", "macro-F1", "ECE", "Brier", "AUROC", "abstained 1",
                   "failed 1", "keep 55% of records at ≥95% accuracy"):  # fmt: skip
        assert needle in result.stdout, result.stdout
    summary = json.loads((report / "summary.json").read_text())
    assert (summary["records"], summary["correct"]) == (11, 7)
    assert summary["sources"] == {"predictions": str(preds), "gold": str(gold)}
    markdown = (report / "report.md").read_text()
    assert "## Confusion matrix" in markdown and "## Calibration, equal-mass bins" in markdown


def test_eval_is_reproducible(tmp_path: Path) -> None:
    preds, gold = fixtures(tmp_path)
    runs = [
        llmlabel("eval", str(preds), "-g", str(gold), "--report", str(tmp_path / name))
        for name in ("one", "two")
    ]
    assert all(r.returncode == 0 for r in runs)
    assert (tmp_path / "one" / "report.md").read_text() == (
        tmp_path / "two" / "report.md"
    ).read_text()


def test_missing_ids_are_one_line_with_counts_and_a_hint(tmp_path: Path) -> None:
    ids = list(GOLD)[:8]
    preds, gold = fixtures(tmp_path, ids=ids)
    write_jsonl(preds, [*(prediction(i) for i in ids), {**prediction("r0"), "id": "stray"}])
    result = llmlabel("eval", str(preds), "--gold", str(gold))
    assert_one_line_error(
        result,
        "3 of 11 gold ids have no prediction (e.g. 'r8', 'r9', 'r10')",
        "1 of 9 predictions have no gold label (e.g. 'stray')",
        "hint:",
        "--allow-missing",
    )
    assert len(result.stderr.strip().splitlines()) == 1  # the error, its hint on the same line


def test_allow_missing_scores_the_intersection_and_says_so(tmp_path: Path) -> None:
    preds, gold = fixtures(tmp_path, ids=list(GOLD)[:8])
    result = llmlabel(
        "eval", str(preds), "--gold", str(gold), "--allow-missing", "--report", str(tmp_path / "r")
    )
    assert result.returncode == 0, result.stderr
    assert "left out: 3 gold ids without a prediction, 0 predictions without gold" in result.stdout
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["records"] == 8
    assert summary["pairing"]["gold_without_prediction"] == ["r8", "r9", "r10"]


def test_a_row_that_is_not_llmlabel_output_is_one_line(tmp_path: Path) -> None:
    preds, gold = fixtures(tmp_path)
    preds.write_text('{"id": "r0", "label": "pos"}\n')
    result = llmlabel("eval", str(preds), "--gold", str(gold))
    assert_one_line_error(result, "preds.jsonl:1", "status: missing", "llmlabel run")


def test_a_missing_gold_file_is_one_line(tmp_path: Path) -> None:
    preds, _ = fixtures(tmp_path)
    result = llmlabel("eval", str(preds), "--gold", str(tmp_path / "nope.jsonl"))
    assert_one_line_error(result, "nope.jsonl", "input not found")


def test_gold_can_be_csv(tmp_path: Path) -> None:
    preds, _ = fixtures(tmp_path)
    gold = tmp_path / "gold.csv"
    gold.write_text("id,label\n" + "".join(f"{i},{g}\n" for i, g in GOLD.items()))
    result = llmlabel("eval", str(preds), "--gold", str(gold), "--target-accuracy", "0.85")
    assert result.returncode == 0, result.stderr
    assert "keep 73% of records at ≥85% accuracy (confidence ≥ 0.8" in result.stdout


def test_cost_and_time_come_from_the_manifest_beside_the_predictions(tmp_path: Path) -> None:
    preds, gold = fixtures(tmp_path)
    totals = {"records": 11, "requests": 9, "cache_hits": 2, "prompt_tokens": 2_000_000,
              "completion_tokens": 100_000, "seconds": 22.0}  # fmt: skip
    (tmp_path / "preds.manifest.json").write_text(json.dumps({"totals": totals}))
    report = tmp_path / "report"
    result = llmlabel(
        "eval", str(preds), "-g", str(gold), "--report", str(report),
        "--price-input", "0.5", "--price-output", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # 2M prompt tokens at $0.5/M + 0.1M completion tokens at $2/M = $1.2; 11 records in 22 s
    for needle in ("9 requests (2 from the cache)", "0.50 records/s", "about $1.2000"):
        assert needle in result.stdout, result.stdout
    assert "## Cost and time" in (report / "report.md").read_text()
    cost = json.loads((report / "summary.json").read_text())["cost"]
    assert cost["usd"] == 1.2 and cost["prompt_tokens"] == 2_000_000


def test_without_a_manifest_eval_reports_no_cost(tmp_path: Path) -> None:
    preds, gold = fixtures(tmp_path)
    result = llmlabel("eval", str(preds), "-g", str(gold), "--report", str(tmp_path / "r"))
    assert result.returncode == 0 and "cost and time" not in result.stdout
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["cost"] is None


def test_gold_labels_spelled_otherwise_are_matched_and_reported(tmp_path: Path) -> None:
    preds, _ = fixtures(tmp_path)
    spelled = {"pos": " Pos", "neg": "NEG "}
    rows = [{"id": i, "label": spelled[g]} for i, g in GOLD.items()]
    rows[0]["label"] = "neutral"  # r0: a label the task does not have
    gold = write_jsonl(tmp_path / "gold.jsonl", rows)
    report = tmp_path / "report"
    result = llmlabel("eval", str(preds), "--gold", str(gold), "--report", str(report))
    assert result.returncode == 0, result.stderr
    summary = json.loads((report / "summary.json").read_text())
    assert summary["correct"] == 6  # the 7 right of the plain gold file, less r0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2 and warnings == [f"warning: {w}" for w in summary["warnings"]]
    assert "10 gold label(s) differ from the task's labels only in case" in warnings[0]
    assert "' Pos' → 'pos'" in warnings[0] or "'NEG ' → 'neg'" in warnings[0]
    assert "1 gold label(s) are none of the task's labels (e.g. 'neutral')" in warnings[1]


def test_input_puts_the_wrong_records_text_in_the_report(tmp_path: Path) -> None:
    """Error analysis: r3 and r6 (pos/neg swapped at 0.6 and 0.8), r9 abstained, r10 failed;
    every confusion is seen once here, so the most confident mistakes come first."""
    preds, gold = fixtures(tmp_path)
    data = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": f"text of {i}"} for i in GOLD])
    report = tmp_path / "report"
    result = llmlabel("eval", str(preds), "--gold", str(gold), "-i", str(data),
                      "--report", str(report))  # fmt: skip
    assert result.returncode == 0, result.stderr
    wrong = json.loads((report / "summary.json").read_text())["wrong"]
    assert [w["id"] for w in wrong] == ["r6", "r3", "r10", "r9"]
    assert {w["id"]: w["text"] for w in wrong}["r6"] == "text of r6"
    markdown = (report / "report.md").read_text()
    assert "## Wrong records" in markdown and "| r6 | neg | pos | 0.800 | text of r6 |" in markdown
    html = (report / "report.html").read_text()
    assert "text of r3" in html
    # Without --input (and no manifest naming one) the report has no such section.
    plain = tmp_path / "plain"
    assert llmlabel("eval", str(preds), "--gold", str(gold), "--report", str(plain)).returncode == 0
    assert "## Wrong records" not in (plain / "report.md").read_text()


def test_rows_that_kept_their_input_give_the_wrong_records_text(tmp_path: Path) -> None:
    """A run with ``keep_fields`` needs no --input: the rows carry the text."""
    _, gold = fixtures(tmp_path)
    rows = [{**prediction(i), "input": {"text": f"kept text of {i}"}} for i in GOLD]
    preds = write_jsonl(tmp_path / "kept.jsonl", rows)
    report = tmp_path / "report"
    result = llmlabel("eval", str(preds), "--gold", str(gold), "--report", str(report))
    assert result.returncode == 0, result.stderr
    wrong = json.loads((report / "summary.json").read_text())["wrong"]
    assert {w["id"]: w["text"] for w in wrong}["r6"] == "kept text of r6"
