"""What merge reads back: reviewers' answers (a Label Studio JSON export, Argilla records, or
JSONL rows), told apart by their shape, one answer per record."""

from __future__ import annotations

import json
from pathlib import Path

from llmlabel.core.kinds.base import Review
from llmlabel.core.review import Correction, Question
from llmlabel.errors import InputError
from llmlabel.io import argilla, labelstudio
from llmlabel.io.rowfile import iter_numbered_rows


def read_corrections(
    path: str | Path, question: Question, review: Review
) -> tuple[dict[str, Correction], list[str]]:
    """Reviewers' answers by record id: a Label Studio JSON export, Argilla records (a
    ``records.json`` or its folder), or JSONL rows ``{id, label}`` (``labels`` for multi-label,
    the kind's answer field in general; ``review`` checks their answers)."""
    path = Path(path)
    shape = _shape(path)
    if shape == "label-studio":
        found, notes = labelstudio.read_export(path, question)
    elif shape == "argilla":
        found, notes = argilla.read_records(path, question)
    else:
        found, notes = _read_jsonl(path, question, review), []
    answers: dict[str, Correction] = {}
    for correction in found:
        if correction.id in answers:
            raise InputError(
                f"record '{correction.id}' is corrected twice "
                f"(first at {answers[correction.id].where})",
                where=correction.where,
                hint="keep one answer per record",
            )
        answers[correction.id] = correction
    if not answers:
        raise InputError(
            "no corrections: no record has a submitted answer",
            where=str(path),
            hint="submit annotations first, then export again",
        )
    return answers, notes


def _shape(path: Path) -> str:
    if path.is_dir():
        return "argilla"
    if path.suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", where=str(path)) from None
    except json.JSONDecodeError:
        return "jsonl"  # one JSON object per line; its reader names the bad line
    first = parsed[0] if isinstance(parsed, list) and parsed else {}
    if isinstance(first, dict) and ("fields" in first or "responses" in first):
        return "argilla"
    return "label-studio"


def _read_jsonl(path: Path, question: Question, review: Review) -> list[Correction]:
    found = []
    for lineno, row in iter_numbered_rows(path):
        where = f"{path}:{lineno}"
        record_id, value = row.get("id"), row.get(question.name, row.get("label"))
        if not isinstance(record_id, (str, int)) or isinstance(record_id, bool):
            raise InputError("a correction has no 'id'", where=where, hint=review.hint)
        data = {k: v for k, v in row.items() if k in (*question.fields, "tokens")}
        label = review.correction(value, question.labels, where, data.get("text"))
        found.append(Correction(str(record_id), label, str(row.get("annotator", "")), data, where))
    return found
