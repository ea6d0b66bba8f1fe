"""Label Studio: tasks with the model's labels as predictions, a labeling config, and reading
the annotators' JSON export back as corrections.

A task is ``{"data": {<the record's fields>, "llmlabel_id": id}, "predictions": [...]}``; the
config shows every field as a ``<Text>`` and asks one ``<Choices>`` question named after the
kind's answer field (single choice for classification, multiple for multi-label). Label Studio
accepts predictions that do not match the config without a word, so everything written here is
checked against the task's labels first, and so is everything read back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from llmlabel.core.review import Correction, Label, Question
from llmlabel.errors import InputError

ID_KEY = "llmlabel_id"
"""The data key that carries the llmlabel record id through Label Studio and back."""
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def labeling_config(question: Question) -> str:
    """The labeling config XML for ``question``."""
    for name in (question.name, *question.fields):
        if not _NAME.match(name):
            raise InputError(
                f"field '{name}' cannot be a Label Studio variable",
                hint="Label Studio needs field names of letters, digits and underscores",
            )
    lines = ["<View>"]
    if question.title:
        lines.append(f"  <Header value={quoteattr(question.title)}/>")
    lines += [f"  <Text name={quoteattr(f)} value={quoteattr('$' + f)}/>" for f in question.fields]
    choice = "multiple" if question.multi_label else "single-radio"
    lines.append(
        f"  <Choices name={quoteattr(question.name)} toName={quoteattr(question.fields[0])} "
        f'choice="{choice}" showInLine="true">'
    )
    descriptions = question.descriptions or {}
    for label in question.labels:
        hint = descriptions.get(label)
        extra = f" hint={quoteattr(hint)}" if hint else ""
        lines.append(f"    <Choice value={quoteattr(label)}{extra}/>")
    lines += ["  </Choices>", "</View>"]
    return "\n".join(lines) + "\n"


def task(
    question: Question,
    record_id: str,
    data: Mapping[str, Any],
    label: Label | None,
    score: float,
    model_version: str,
) -> dict[str, Any]:
    """One Label Studio task; the model's label (if any) as a prediction with its score."""
    payload = {f: data.get(f) for f in question.fields}
    payload[ID_KEY] = record_id
    predictions = []
    if label is not None:
        choices = [label] if isinstance(label, str) else list(label)
        _check_choices(question, choices, f"record '{record_id}'")
        result = {
            "from_name": question.name,
            "to_name": question.fields[0],
            "type": "choices",
            "value": {"choices": choices},
            "score": score,
        }
        predictions.append({"model_version": model_version, "score": score, "result": [result]})
    return {"data": payload, "predictions": predictions}


def read_export(path: str | Path, question: Question) -> tuple[list[Correction], list[str]]:
    """Corrections from a Label Studio JSON export (a list of tasks), and notes on what was
    not a correction. Per task the latest submitted, not cancelled annotation counts."""
    tasks = _load_json(path)
    if not isinstance(tasks, list):
        raise InputError(
            "a Label Studio JSON export is a list of tasks",
            where=str(path),
            hint="export the project as JSON (not JSON_MIN or CSV)",
        )
    corrections: list[Correction] = []
    unannotated = several = 0
    for n, item in enumerate(tasks, start=1):
        where = f"{path} task {n}"
        if not isinstance(item, dict) or not isinstance(item.get("data"), dict):
            raise InputError("a task has no 'data' object", where=where, hint=_EXPORT_HINT)
        record_id = item["data"].get(ID_KEY)
        if not isinstance(record_id, str):
            raise InputError(
                f"the task has no '{ID_KEY}' in its data",
                where=where,
                hint="import tasks written by `llmlabel review --format label-studio`",
            )
        answered = [
            a
            for a in item.get("annotations") or []
            if isinstance(a, dict) and not a.get("was_cancelled")
        ]
        if not answered:
            unannotated += 1
            continue
        several += len(answered) > 1
        latest = max(answered, key=lambda a: (str(a.get("updated_at") or ""), a.get("id") or 0))
        label = _answer(latest, question, f"{where} (record '{record_id}')")
        if label is None:
            unannotated += 1
            continue
        data = {k: v for k, v in item["data"].items() if k != ID_KEY}
        corrections.append(Correction(record_id, label, _annotator(latest), data, where))
    notes = []
    if unannotated:
        notes.append(f"{unannotated} task(s) without a submitted answer were left as they were")
    if several:
        notes.append(f"{several} task(s) had several annotations; the latest one counts")
    return corrections, notes


_EXPORT_HINT = "pass the JSON export of the Label Studio project (Export → JSON)"


def _answer(annotation: Mapping[str, Any], question: Question, where: str) -> Label | None:
    results = [
        r
        for r in annotation.get("result") or []
        if isinstance(r, dict) and r.get("from_name") == question.name
    ]
    choices = [c for r in results for c in (r.get("value") or {}).get("choices") or []]
    if not results and not question.multi_label:
        return None
    _check_choices(question, choices, where)
    if question.multi_label:
        order = {label: i for i, label in enumerate(question.labels)}
        return tuple(sorted(set(choices), key=order.__getitem__))
    if len(choices) != 1:
        raise InputError(
            f"a classification answer needs exactly one choice, got {choices}",
            where=where,
            hint="fix the annotation in Label Studio and export again",
        )
    return str(choices[0])


def _check_choices(question: Question, choices: Sequence[Any], where: str) -> None:
    unknown = [c for c in choices if c not in question.labels]
    if unknown:
        raise InputError(
            f"choice {unknown[0]!r} is not a label of the task ({', '.join(question.labels)})",
            where=where,
            hint="the labeling config must list the task's labels; pass the task file the "
            "predictions were made with",
        )


def _annotator(annotation: Mapping[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return f"label-studio:{who}" if who is not None else "label-studio"


def _load_json(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", where=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", where=str(path), hint=_EXPORT_HINT) from None


def dumps(tasks: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps(list(tasks), ensure_ascii=False, indent=1) + "\n"
