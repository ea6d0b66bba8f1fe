"""``keep_fields`` / ``--keep-fields``: chosen input fields ride along in every output row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import llmlabel

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "examples" / "sentiment" / "task.yaml"
SMALL = {"backend.model": "smollm2-135m", "examples.k": 0}


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


RECORDS = [
    {"id": "a", "text": "Great phone, lasts all day.", "customer": "c-1", "shop": "north"},
    {"id": "b", "text": "Broke after a week.", "customer": "c-2"},
]


def test_rows_carry_the_kept_fields_and_a_missing_one_is_named(
    tmp_path: Path, smollm2_path: Path
) -> None:
    inputs = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "llmlabel", "run", str(TASK), "-i", str(inputs), "-o"]
    command += [str(out), "--model", "smollm2-135m", "--keep-fields", "text, shop", "--no-cache"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in llmlabel.iter_output(out)}
    assert rows["a"]["input"] == {"text": RECORDS[0]["text"], "shop": "north"}
    assert rows["b"]["input"] == {"text": RECORDS[1]["text"]}  # no 'shop': left out, not null
    assert "1 record(s) have no 'shop' field to keep" in result.stdout + result.stderr


def test_without_keep_fields_rows_have_no_input(tmp_path: Path, smollm2_path: Path) -> None:
    inputs = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    out = tmp_path / "out.jsonl"
    llmlabel.label(TASK, inputs, out, overrides=SMALL, cache=False)
    assert all("input" not in row for row in llmlabel.iter_output(out))
    kept = tmp_path / "kept.jsonl"
    result = llmlabel.label(
        TASK, inputs, kept, overrides={**SMALL, "keep_fields": ["customer"]}, cache=False
    )
    inputs_by_id = {row["id"]: row["input"] for row in llmlabel.iter_output(kept)}
    assert inputs_by_id == {"a": {"customer": "c-1"}, "b": {"customer": "c-2"}}
    assert not any("to keep" in warning for warning in result.stats.warnings())
