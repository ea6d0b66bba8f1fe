"""Label Studio: tasks with the model's labels as predictions, a labeling config, and reading
the annotators' JSON export back as corrections.

A task is ``{"data": {<the record's fields>, "llmlabel_id": id}, "predictions": [...]}``; the
config shows every field as a ``<Text>`` and asks one ``<Choices>`` question named after the
kind's answer field (single choice for classification, multiple for multi-label). Label Studio
accepts predictions that do not match the config without a word, so everything written here is
checked against the task's labels first, and so is everything read back.

NER: the question is a ``<Labels>`` control (named after the answer field, ``entities``) on the
``text`` field; each of the model's spans is a ``labels`` region with its confidence as score,
and the record's ``tokens`` ride along in the task's data so ``merge`` can redo BIO tags. Read
back, a submitted annotation's regions are the reviewer's entities (none: "no entities").
Label Studio counts offsets in UTF-16 code units (JavaScript strings); where they do not
select the region's text in Python's code points, they are converted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from llmlabel.core.review import Correction, Label, Question, entity_problem
from llmlabel.core.silverspans import Entities
from llmlabel.core.spans import Span
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
    if question.spans:
        return "\n".join([*lines, *_spans_config(question)]) + "\n"
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


def _spans_config(question: Question) -> list[str]:
    """A ``Labels`` control over the entity types on ``text``, then the fields."""
    lines = [f"  <Labels name={quoteattr(question.name)} toName={quoteattr(TEXT)}>"]
    descriptions = question.descriptions or {}
    for label in question.labels:
        hint = descriptions.get(label)
        extra = f" hint={quoteattr(hint)}" if hint else ""
        lines.append(f"    <Label value={quoteattr(label)}{extra}/>")
    lines.append("  </Labels>")
    lines += [f"  <Text name={quoteattr(f)} value={quoteattr('$' + f)}/>" for f in question.fields]
    return [*lines, "</View>"]


TEXT = "text"
"""The field NER regions are marked in."""


def task(
    question: Question,
    record_id: str,
    data: Mapping[str, Any],
    label: Label | None,
    score: float,
    model_version: str,
    span_scores: Mapping[Span, float] | None = None,
) -> dict[str, Any]:
    """One Label Studio task; the model's label (if any) as a prediction with its score
    (NER: a region per entity, scored by ``span_scores``, else ``score``)."""
    payload = {f: data.get(f) for f in question.fields}
    payload[ID_KEY] = record_id
    predictions = []
    if question.spans:
        if isinstance(data.get("tokens"), list):
            payload["tokens"] = data["tokens"]
        if label is not None:
            entities = _entities(label)
            problem = entity_problem(entities, question.labels, _text(data))
            if problem is not None:
                raise InputError(
                    problem,
                    where=f"record '{record_id}'",
                    hint="pass the task and input file the predictions were made with",
                )
            scores = span_scores or {}
            regions = [_region(question, s, scores.get(s, score)) for s in entities]
            predictions.append({"model_version": model_version, "score": score, "result": regions})
        return {"data": payload, "predictions": predictions}
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


def _region(question: Question, span: Span, score: float) -> dict[str, Any]:
    value = {"start": span.start, "end": span.end, "text": span.text, "labels": [span.label]}
    return {
        "id": f"llmlabel-{span.start}-{span.end}",
        "from_name": question.name,
        "to_name": TEXT,
        "type": "labels",
        "value": value,
        "score": score,
    }


def _entities(label: Label) -> Entities:
    if isinstance(label, str):
        raise TypeError(f"not an NER answer: {label!r}")
    return tuple(s for s in label if isinstance(s, Span))


def _text(data: Mapping[str, Any]) -> str | None:
    text = data.get(TEXT)
    return text if isinstance(text, str) else None


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
        about = f"{where} (record '{record_id}')"
        label = (
            _spans(latest, question, _text(item["data"]), about)
            if question.spans
            else _answer(latest, question, about)
        )
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


def _spans(
    annotation: Mapping[str, Any], question: Question, text: str | None, where: str
) -> Entities:
    """The annotation's regions of the question as entities (offsets in ``text``)."""
    spans = []
    for result in annotation.get("result") or []:
        if not isinstance(result, dict) or result.get("from_name") != question.name:
            continue
        value = result.get("value") or {}
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
            raise InputError(
                f"a region has no character offsets (start {start!r}, end {end!r})",
                where=where,
                hint="mark entities in the text field",
            )
        if not isinstance(labels, list) or len(labels) != 1:
            raise InputError(
                f"a region needs exactly one entity type, got {labels!r}",
                where=where,
                hint="fix the annotation in Label Studio and export again",
            )
        marked = value.get("text")
        if text is not None:
            start, end = _code_points(text, start, end, marked)
            marked = marked if isinstance(marked, str) else text[start:end]
        if not isinstance(marked, str):
            raise InputError("a region has no text", where=where, hint=_EXPORT_HINT)
        spans.append(Span(start, end, str(labels[0]), marked))
    entities = tuple(sorted(set(spans)))
    problem = entity_problem(entities, question.labels, text)
    if problem is not None:
        raise InputError(
            problem,
            where=where,
            hint="fix the annotation in Label Studio (the labeling config must list the "
            "task's entity types) and export again",
        )
    return entities


def _code_points(text: str, start: int, end: int, marked: Any) -> tuple[int, int]:
    """Offsets in Python's code points: as given where they select ``marked``, else read as
    UTF-16 code units (how Label Studio counts) and converted."""
    if not isinstance(marked, str) or text[start:end] == marked:
        return start, end
    index, units = {}, 0
    for i, char in enumerate(text):
        index[units] = i
        units += 2 if ord(char) > 0xFFFF else 1
    index[units] = len(text)
    converted = index.get(start, start), index.get(end, end)
    return converted if text[converted[0] : converted[1]] == marked else (start, end)


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
