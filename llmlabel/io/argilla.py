"""Argilla: the hand-off folder ``rg.Dataset.from_disk`` loads, and reading records back.

The folder holds ``.argilla/dataset.json`` (the name), ``.argilla/settings.json`` (a text field
per record field and one label question named after the kind's answer field) and
``records.json`` (one record per reviewed row, the model's label as a suggestion with its
score). Load it with ``rg.Dataset.from_disk(folder, client=rg.Argilla(api_url, api_key))``;
after review, ``dataset.records.to_json("reviewed.json")`` writes what ``read_records`` reads.
The JSON is written here without the SDK (its settings objects need a live server).

NER: the question is a span question on the ``text`` field (no overlapping spans), the model's
entities a suggestion ``[{start, end, label}]`` (character offsets), and a submitted response's
spans the record's entities, their text read from the record's ``text``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llmlabel.core.review import Correction, Label, Question, entity_problem
from llmlabel.core.silverspans import Entities
from llmlabel.core.spans import Span
from llmlabel.errors import InputError

RECORDS = "records.json"
SPAN_FIELD = "text"
"""The field NER spans are marked in."""
SETTINGS = ".argilla/settings.json"
DATASET = ".argilla/dataset.json"
_HINT = "pass the records.json of the reviewed Argilla dataset (dataset.records.to_json(...))"


def settings(question: Question, guidelines: str | None = None) -> dict[str, Any]:
    """``settings.json``: what ``rg.Settings.from_json`` reads."""
    kind = "multi_label_selection" if question.multi_label else "label_selection"
    descriptions = question.descriptions or {}
    options = [{"value": label, "text": label} for label in question.labels]
    question_settings: dict[str, Any] = {"type": kind, "options": options}
    if question.multi_label:
        question_settings["options_order"] = "natural"
    if question.spans:
        kind = "span"
        question_settings = {
            "type": kind,
            "field": SPAN_FIELD,
            "options": options,
            "allow_overlapping": False,  # a row's BIO tags cannot hold overlapping spans
            "visible_options": None,
        }
    if any(descriptions.get(label) for label in question.labels):
        lines = [f"- **{label}**: {descriptions.get(label) or ''}" for label in question.labels]
        guidelines = "\n".join([guidelines or "", "", *lines]).strip()
    return {
        "guidelines": guidelines,
        "fields": [
            {
                "name": name,
                "title": name,
                "required": True,
                "settings": {"type": "text", "use_markdown": False},
                "type": "text",
            }
            for name in question.fields
        ],
        "questions": [
            {
                "name": question.name,
                "title": question.title or question.name,
                "required": True,
                "settings": question_settings,
                "type": kind,
            }
        ],
        "vectors": [],
        "metadata": [],
        "allow_extra_metadata": True,
        "distribution": {"strategy": "overlap", "min_submitted": 1},
        "mapping": None,
    }


def record(
    question: Question,
    record_id: str,
    data: Mapping[str, Any],
    label: Label | None,
    score: float,
    agent: str,
    metadata: Mapping[str, Any],
    span_scores: Mapping[Span, float] | None = None,
) -> dict[str, Any]:
    """One record; the model's label (if any) as a suggestion with its score (NER: a score
    per span, from ``span_scores``, else ``score``)."""
    suggestions: dict[str, Any] = {}
    if question.spans and label is not None:
        entities = tuple(s for s in label if isinstance(s, Span))
        problem = entity_problem(entities, question.labels, _str(data.get(SPAN_FIELD)))
        if problem is not None:
            raise InputError(
                problem,
                where=f"record '{record_id}'",
                hint="pass the task and input file the predictions were made with",
            )
        spans = [{"start": s.start, "end": s.end, "label": s.label} for s in entities]
        scores = [(span_scores or {}).get(s, score) for s in entities]
        suggestions[question.name] = {"value": spans, "score": scores or score, "agent": agent}
    elif label is not None:
        value = label if isinstance(label, str) else [x for x in label if isinstance(x, str)]
        unknown = [
            v for v in ([value] if isinstance(value, str) else value) if v not in question.labels
        ]
        if unknown:
            raise InputError(
                f"label {unknown[0]!r} is not a label of the task",
                where=f"record '{record_id}'",
                hint="pass the task file the predictions were made with",
            )
        suggestions[question.name] = {"value": value, "score": score, "agent": agent}
    return {
        "id": record_id,
        "fields": {f: _text(data.get(f)) for f in question.fields},
        "metadata": dict(metadata),
        "suggestions": suggestions,
        "responses": {},
        "vectors": {},
        "status": "pending",
    }


def handoff(
    question: Question, name: str, records: Sequence[Mapping[str, Any]], guidelines: str | None
) -> dict[str, str]:
    """The hand-off folder's files: relative path → content."""
    return {
        DATASET: _dumps({"name": name}),
        SETTINGS: _dumps(settings(question, guidelines)),
        RECORDS: _dumps(list(records)),
    }


def read_records(path: str | Path, question: Question) -> tuple[list[Correction], list[str]]:
    """Corrections from Argilla records (``records.json``, or a hand-off folder holding one):
    nested (``responses: {question: [{value, user_id, status?}]}``) or flattened
    (``"<question>.responses": [...]``) form. Per record the last submitted response counts;
    draft and discarded responses are not corrections."""
    path = Path(path)
    file = path / RECORDS if path.is_dir() else path
    try:
        items = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", where=str(file)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", where=str(file), hint=_HINT) from None
    if not isinstance(items, list):
        raise InputError("Argilla records are a JSON list", where=str(file), hint=_HINT)
    corrections: list[Correction] = []
    unanswered = several = 0
    for n, item in enumerate(items, start=1):
        where = f"{file} record {n}"
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise InputError("a record has no string 'id'", where=where, hint=_HINT)
        answers = _responses(item, question.name)
        if not answers:
            unanswered += 1
            continue
        several += len(answers) > 1
        value, user = answers[-1]
        fields = item.get("fields") or {k: item[k] for k in question.fields if k in item}
        about = f"{where} (record '{item['id']}')"
        label = (
            _spans(value, question, _str(fields.get(SPAN_FIELD)), about)
            if question.spans
            else _label(value, question, about)
        )
        corrections.append(Correction(item["id"], label, f"argilla:{user}", fields, where))
    notes = []
    if unanswered:
        notes.append(f"{unanswered} record(s) without a submitted response were left as they were")
    if several:
        notes.append(f"{several} record(s) had several responses; the last one counts")
    return corrections, notes


def _responses(item: Mapping[str, Any], name: str) -> list[tuple[Any, str]]:
    nested = (item.get("responses") or {}).get(name)
    if isinstance(nested, list):
        return [
            (r.get("value"), str(r.get("user_id")))
            for r in nested
            if isinstance(r, dict) and r.get("status", "submitted") == "submitted"
        ]
    values = item.get(f"{name}.responses") or []
    users = item.get(f"{name}.responses.users") or [None] * len(values)
    statuses = item.get(f"{name}.responses.status") or ["submitted"] * len(values)
    return [
        (v, str(u)) for v, u, s in zip(values, users, statuses, strict=False) if s == "submitted"
    ]


def _spans(value: Any, question: Question, text: str | None, where: str) -> Entities:
    """A span response ``[{start, end, label}]`` as entities in ``text``."""
    if text is None:
        raise InputError(f"the record has no '{SPAN_FIELD}' field", where=where, hint=_HINT)
    spans = []
    for item in value if isinstance(value, list) else [value]:
        start, end = (item.get(k) if isinstance(item, dict) else None for k in ("start", "end"))
        label = item.get("label") if isinstance(item, dict) else None
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise InputError(f"span {item!r} has no offsets in the text", where=where, hint=_HINT)
        spans.append(Span(start, end, str(label), text[start:end]))
    entities = tuple(sorted(set(spans)))
    problem = entity_problem(entities, question.labels, text)
    if problem is not None:
        raise InputError(
            problem, where=where, hint="pass the task file the predictions were made with"
        )
    return entities


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _label(value: Any, question: Question, where: str) -> Label:
    values = value if isinstance(value, list) else [value]
    unknown = [v for v in values if v not in question.labels]
    if unknown or (not question.multi_label and isinstance(value, list)):
        raise InputError(
            f"response {value!r} is not {'labels' if question.multi_label else 'a label'} "
            f"of the task ({', '.join(question.labels)})",
            where=where,
            hint="pass the task file the predictions were made with",
        )
    if not question.multi_label:
        return str(value)
    order = {label: i for i, label in enumerate(question.labels)}
    return tuple(sorted(set(values), key=order.__getitem__))


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1) + "\n"
