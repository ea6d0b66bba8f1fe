"""A malformed output row, read by the real CLI: one error line naming the file, the line and
the field (``llmlabel.core.row``), for every command that reads predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.test_cli import assert_one_line_error, llmlabel

PROVENANCE = {"task": "mood", "kind": "classification", "template": "classify.v1"}


def row(i: int, **change: Any) -> dict[str, Any]:
    return {"id": f"r{i}", "status": "labeled", "label": "good", "confidence": 0.9,
            "votes": {"good": 3}, "provenance": PROVENANCE, **change}  # fmt: skip


def files(tmp_path: Path, bad: dict[str, Any]) -> dict[str, Path]:
    rows = [row(0), row(1), row(2, **bad)]
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"id": f"r{i}", "text": f"t{i}", "label": "good"}) + "\n"
                            for i in range(3)))  # fmt: skip
    task = tmp_path / "task.yaml"
    task.write_text("name: mood\nlabels: [good, bad]\nfields: [text]\n")
    return {"preds": preds, "gold": gold, "task": task}


def test_eval_names_the_line_and_a_status_that_is_not_a_string(tmp_path: Path) -> None:
    f = files(tmp_path, {"status": 3})
    result = llmlabel("eval", str(f["preds"]), "--gold", str(f["gold"]))
    assert_one_line_error(result, f"{f['preds']}:3: not an output row: status: Input should be")


def test_export_names_the_line_and_a_label_of_the_wrong_type(tmp_path: Path) -> None:
    f = files(tmp_path, {"label": ["good", "bad"]})
    out = tmp_path / "silver"
    result = llmlabel("export", str(f["preds"]), "-i", str(f["gold"]), "-o", str(out))
    assert_one_line_error(
        result, f"{f['preds']}:3: not an output row: a labeled classification row's label is a "
        "string; label: Input should be a valid string"
    )  # fmt: skip


def test_audit_and_calibrate_name_the_line_too(tmp_path: Path) -> None:
    f = files(tmp_path, {"confidence": "high"})
    audit = llmlabel("audit", str(f["preds"]), "--gold", str(f["gold"]), "-o",
                     str(tmp_path / "flags.jsonl"))  # fmt: skip
    assert_one_line_error(audit, f"{f['preds']}:3: not an output row: confidence:")
    calibrate = llmlabel("calibrate", str(f["preds"]), "--gold", str(f["gold"]), "-o",
                         str(tmp_path / "cal.json"))  # fmt: skip
    assert_one_line_error(calibrate, f"{f['preds']}:3: not an output row: confidence:")


def test_an_old_row_without_kind_usage_or_examples_is_still_scored(tmp_path: Path) -> None:
    f = files(tmp_path, {})
    old = [{"id": f"r{i}", "status": "labeled", "label": "good", "confidence": 1.0}
           for i in range(3)]  # fmt: skip
    f["preds"].write_text("".join(json.dumps(r) + "\n" for r in old))
    result = llmlabel("eval", str(f["preds"]), "--gold", str(f["gold"]))
    assert result.returncode == 0, result.stderr
    assert "1.000" in result.stdout
