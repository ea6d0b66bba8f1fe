"""The human review round trip: choose records for people, hand them over, merge what comes back.

``review``: prediction rows → uncertainty ranking (``core.review``) → a Label Studio folder
(``tasks.json`` + ``config.xml``) or an Argilla hand-off folder. ``merge``: reviewers' answers
(a Label Studio JSON export, Argilla records, or JSONL ``{id, label}``) override the model's
labels, with model–reviewer agreement, and can grow the task's few-shot pool.

NER rows go through the same steps with spans: uncertainty per candidate span, Label Studio
regions as predictions, the reviewers' regions back as the record's entities, span-level
agreement (``SpanAgreement``) instead of kappa; Argilla gets a span question.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmlabel.core.committee import Member
from llmlabel.core.review import (
    STRATEGIES,
    Agreement,
    Candidate,
    Choice,
    Correction,
    Label,
    Question,
    SpanAgreement,
    agreement,
    choose,
    entity_problem,
    span_agreement,
)
from llmlabel.core.row import Row
from llmlabel.core.silverspans import Entities, entities_of
from llmlabel.core.spans import Span, bio_tags, token_offsets
from llmlabel.errors import ConfigError, InputError
from llmlabel.io import argilla, labelstudio
from llmlabel.io.handoff import append_jsonl, check_new, write_folder, write_jsonl
from llmlabel.io.paths import check_apart
from llmlabel.io.readers import read_records
from llmlabel.io.sink import iter_numbered_rows, read_rows
from llmlabel.task import PreparedTask, load

FORMATS = ("label-studio", "argilla")
KINDS = ("classification", "multi_label", "ner")
_PREDICTIONS_HINT = "PREDICTIONS must be an output file of `llmlabel run` for this task"


@dataclass(frozen=True)
class ReviewResult:
    output: Path
    format: str
    strategy: str
    choice: Choice
    files: list[str]


@dataclass(frozen=True)
class MergeResult:
    output: Path
    rows: int
    corrected: int
    changed: int
    agreement: Agreement | SpanAgreement
    appended: int = 0
    notes: list[str] = field(default_factory=list)


def review(
    predictions: str | Path,
    input: str | Path,
    output: str | Path,
    *,
    task: str | Path,
    budget: int,
    strategy: str = "least_confidence",
    format: str = "label-studio",
    seed: int = 0,
    max_similarity: float | None = None,
    force: bool = False,
) -> ReviewResult:
    """Write the ``budget`` records most worth a person's time to ``output`` (a folder).

    ``max_similarity``: skip records whose text is more similar than this (word-bigram
    Jaccard, 0–1) to one already chosen."""
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"unknown strategy '{strategy}'", hint=f"use one of: {_names(STRATEGIES)}"
        )
    if format not in FORMATS:
        raise ConfigError(
            f"unknown review format '{format}'", hint=f"use one of: {_names(FORMATS)}"
        )
    if budget < 1:
        raise ConfigError(f"--budget must be at least 1 (got {budget})")
    if max_similarity is not None and not 0.0 <= max_similarity <= 1.0:
        raise ConfigError(
            f"--max-similarity is a Jaccard similarity in [0, 1] (got {max_similarity})"
        )
    prepared = _prepared(task)
    question = question_for(prepared)
    target = Path(output)
    reads = {"PREDICTIONS": predictions, "--input": input, "--task": task}
    check_apart({"--output": target}, reads, folders=True)
    check_new(target, force, folder=True)
    rows = _read_rows(predictions, prepared)
    candidates = [_candidate(row, where, prepared) for row, where in rows.values()]
    data = _records(input, prepared, rows)
    texts = {i: " ".join(str(d.get(f, "")) for f in question.fields) for i, d in data.items()}
    choice = choose(
        candidates,
        strategy,
        budget,
        seed=seed,
        texts=texts,
        max_similarity=max_similarity,
    )
    by_id = {c.id: c for c in candidates}
    files: dict[str, str] = {}
    if format == "label-studio":
        tasks = [
            labelstudio.task(
                question,
                ch.id,
                data[ch.id],
                by_id[ch.id].label,
                by_id[ch.id].confidence,
                _model_version(rows[ch.id][0]),
                _span_scores(rows[ch.id][0]) if question.spans else None,
            )
            for ch in choice.chosen
        ]
        files = {
            "tasks.json": labelstudio.dumps(tasks),
            "config.xml": labelstudio.labeling_config(question),
        }
    else:
        records = [
            argilla.record(
                question,
                ch.id,
                data[ch.id],
                by_id[ch.id].label,
                by_id[ch.id].confidence,
                _model_version(rows[ch.id][0]),
                {"uncertainty": _json_number(ch.score), "strategy": strategy},
                _span_scores(rows[ch.id][0]) if question.spans else None,
            )
            for ch in choice.chosen
        ]
        files = argilla.handoff(question, prepared.spec.name, records, prepared.spec.description)
    files["selection.jsonl"] = "".join(
        json.dumps(
            {
                "id": ch.id,
                "uncertainty": _json_number(ch.score),
                "strategy": strategy,
                "label": _plain(by_id[ch.id].label),
                "confidence": by_id[ch.id].confidence,
            },
            ensure_ascii=False,
        )
        + "\n"
        for ch in choice.chosen
    )
    write_folder(target, files)
    return ReviewResult(target, format, strategy, choice, sorted(files))


def merge(
    predictions: str | Path,
    corrections: str | Path,
    output: str | Path,
    *,
    task: str | Path,
    append_examples: str | Path | None = None,
    force: bool = False,
) -> MergeResult:
    """Write ``predictions`` with reviewers' labels in place of the model's to ``output``.

    Every row gets ``source``: ``human`` (corrected: ``status`` labeled, ``confidence`` 1, the
    model's answer kept under ``model``) or ``model``. ``append_examples``: a JSONL few-shot
    pool the corrections are appended to (ids already there are skipped)."""
    prepared = _prepared(task)
    question = question_for(prepared)
    target = Path(output)
    check_apart(
        {"--output": target, "--append-examples": append_examples},
        {"PREDICTIONS": predictions, "--corrections": corrections, "--task": task},
    )
    check_new(target, force, folder=False)
    answers, notes = read_corrections(corrections, question)
    rows = _read_rows(predictions, prepared)
    unknown = [c for c in answers.values() if c.id not in rows]
    if unknown:
        raise InputError(
            f"record '{unknown[0].id}' has no prediction ({len(unknown)} corrections unmatched)",
            where=unknown[0].where,
            hint="pass the predictions that were reviewed",
        )
    pairs: list[tuple[Label | None, Label]] = []
    changed = 0
    for record_id, correction in answers.items():
        row, where = rows[record_id]
        model_label = _label_of(row.label, prepared, where)
        pairs.append((model_label, correction.label))
        changed += _key(model_label) != _key(correction.label)
    merged = list(_merged(rows, answers, question))
    untagged = sum(
        row.tags is not None and new.get("tags") is None
        for (row, _), new in zip(rows.values(), merged, strict=True)
    )
    if untagged:
        notes.append(
            f"{untagged} corrected row(s) lost their BIO 'tags': the corrections do not carry "
            "the records' 'tokens'"
        )
    write_jsonl(target, merged)
    stats: Agreement | SpanAgreement = (
        span_agreement(pairs, question.labels)
        if question.spans
        else agreement(pairs, question.labels, multi_label=question.multi_label)
    )
    appended = 0
    if append_examples is not None:
        appended, skipped = _append_examples(Path(append_examples), answers, prepared)
        if skipped:
            notes.append(
                f"{skipped} correction(s) already in {append_examples} were not added again"
            )
    return MergeResult(target, len(rows), len(answers), changed, stats, appended, notes)


def question_for(prepared: PreparedTask) -> Question:
    spec = prepared.spec
    return Question(
        name=prepared.kind.field,
        labels=list(prepared.labels),
        fields=list(spec.fields),
        multi_label=spec.kind == "multi_label",
        title=spec.description or spec.name,
        descriptions={label.name: label.description for label in spec.labels},
        spans=spec.kind == "ner",
    )


def read_corrections(
    path: str | Path, question: Question
) -> tuple[dict[str, Correction], list[str]]:
    """Reviewers' answers by record id: a Label Studio JSON export, Argilla records (a
    ``records.json`` or its folder), or JSONL rows ``{id, label}`` (``labels`` for multi-label),
    told apart by their shape."""
    path = Path(path)
    shape = _shape(path)
    if shape == "label-studio":
        found, notes = labelstudio.read_export(path, question)
    elif shape == "argilla":
        found, notes = argilla.read_records(path, question)
    else:
        found, notes = _read_jsonl(path, question), []
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


def _read_jsonl(path: Path, question: Question) -> list[Correction]:
    found = []
    for lineno, row in iter_numbered_rows(path):
        where = f"{path}:{lineno}"
        record_id, value = row.get("id"), row.get(question.name, row.get("label"))
        if not isinstance(record_id, (str, int)) or isinstance(record_id, bool):
            raise InputError("a correction has no 'id'", where=where, hint=_JSONL_HINT)
        data = {k: v for k, v in row.items() if k in (*question.fields, "tokens")}
        label = (
            _checked_spans(value, question, where, data.get("text"))
            if question.spans
            else _checked_label(value, question, where)
        )
        found.append(Correction(str(record_id), label, str(row.get("annotator", "")), data, where))
    return found


_JSONL_HINT = 'corrections rows look like {"id": "r01", "label": "negative"}'
_SPANS_HINT = (
    'NER corrections rows look like {"id": "n01", "text": ..., '
    '"entities": [{"start": 0, "end": 6, "label": "ORG", "text": "Toyota"}]}'
)


def _checked_spans(value: Any, question: Question, where: str, text: Any) -> Entities:
    entities = entities_of(value)
    if entities is None:
        raise InputError(
            "the correction has no list of {start, end, label, text} entities",
            where=where,
            hint=_SPANS_HINT,
        )
    problem = entity_problem(entities, question.labels, text if isinstance(text, str) else None)
    if problem is not None:
        raise InputError(problem, where=where, hint=_SPANS_HINT)
    return entities


def _checked_label(value: Any, question: Question, where: str) -> Label:
    ok = (
        isinstance(value, list) and all(v in question.labels for v in value)
        if question.multi_label
        else value in question.labels
    )
    if not ok:
        raise InputError(
            f"{value!r} is not {'a list of labels' if question.multi_label else 'a label'} "
            f"of the task ({', '.join(question.labels)})",
            where=where,
            hint=_JSONL_HINT,
        )
    if isinstance(value, list):
        return tuple(label for label in question.labels if label in value)
    return str(value)


def _merged(
    rows: Mapping[str, tuple[Row, str]],
    answers: Mapping[str, Correction],
    question: Question,
) -> Iterator[dict[str, Any]]:
    for record_id, (read, _) in rows.items():
        row = read.dump()
        correction = answers.get(record_id)
        if correction is None:
            yield {**row, "source": "model"}
            continue
        human = {
            **row,
            "status": "labeled",
            "label": _plain(correction.label),
            "confidence": 1.0,
            "source": "human",
            "reviewer": correction.annotator,
            "model": {k: row.get(k) for k in ("status", "label", "confidence")},
        }
        if question.spans:
            human.update(_human_spans(row, correction))
        elif "label_confidence" in row:
            human["label_confidence"] = dict.fromkeys(question.labels, 1.0)
        yield human


def _human_spans(row: Mapping[str, Any], correction: Correction) -> dict[str, Any]:
    """A corrected NER row's span fields: every entity sure, BIO tags redone from the
    record's tokens (dropped, with a note, where the correction does not carry them)."""
    entities = _spans_of(correction.label)
    fields: dict[str, Any] = {
        "label": [{**s._asdict(), "confidence": 1.0} for s in entities],
        "label_confidence": {s.key: 1.0 for s in entities},
    }
    tokens, text = correction.data.get("tokens"), correction.data.get("text")
    offsets = (
        token_offsets(tokens, text) if isinstance(tokens, list) and isinstance(text, str) else None
    )
    if offsets is not None:
        fields["tags"] = bio_tags([(s.start, s.end, s.label) for s in entities], offsets)
    elif "tags" in row:
        fields["tags"] = None
    return fields


def _append_examples(
    pool: Path, answers: Mapping[str, Correction], prepared: PreparedTask
) -> tuple[int, int]:
    spec = prepared.spec
    label_field = spec.examples.label_field or prepared.kind.field
    present = {r.id for r in read_records(pool, id_field=spec.id_field)} if pool.exists() else set()
    new = []
    for correction in answers.values():
        if correction.id in present:
            continue
        missing = [f for f in spec.fields if f not in correction.data]
        if missing:
            raise InputError(
                f"the correction of '{correction.id}' does not carry the field '{missing[0]}'",
                where=correction.where,
                hint="few-shot examples need the record's text: add it to the corrections rows "
                "(Label Studio and Argilla exports carry it)",
            )
        fields = {f: correction.data[f] for f in spec.fields}
        label: Any = _plain(correction.label)
        if spec.kind == "ner":  # few-shot examples name their entities; offsets are recovered
            label = [{"text": s.text, "label": s.label} for s in _spans_of(correction.label)]
        new.append({spec.id_field: correction.id, **fields, label_field: label})
    append_jsonl(pool, new)
    return len(new), len(answers) - len(new)


def _prepared(task: str | Path) -> PreparedTask:
    prepared = load(task)
    if prepared.spec.kind not in KINDS:
        raise ConfigError(
            f"review handles {', '.join(KINDS[:-1])} and {KINDS[-1]} tasks; "
            f"'{prepared.spec.name}' is {prepared.spec.kind}",
            where=str(task),
        )
    return prepared


def _read_rows(path: str | Path, prepared: PreparedTask) -> dict[str, tuple[Row, str]]:
    """Prediction rows by id (file order), each with where it came from."""
    rows: dict[str, tuple[Row, str]] = {}
    for where, row in read_rows(path, skipped=False):
        key = row.key
        if key in rows:
            raise InputError(
                f"prediction '{key}' appears twice (first at {rows[key][1]})",
                where=where,
                hint="ids must be unique; was a run appended to another?",
            )
        kind = row.kind or prepared.spec.kind
        if kind != prepared.spec.kind:
            raise InputError(
                f"the row is a {kind} prediction; task '{prepared.spec.name}' is "
                f"{prepared.spec.kind}",
                where=where,
                hint="pass the task file the predictions were made with",
            )
        rows[key] = (row, where)
    if not rows:
        raise InputError("no predictions in the file", where=str(path), hint=_PREDICTIONS_HINT)
    return rows


def _candidate(row: Row, where: str, prepared: PreparedTask) -> Candidate:
    votes: dict[str, int] = dict(row.votes)
    label = _label_of(row.label, prepared, where) if row.status == "labeled" else None
    invalid = len(row.invalid)
    multi = prepared.spec.kind == "multi_label"
    spans = prepared.spec.kind == "ner"
    committee = _committee(row.committee, where)
    if multi or spans:  # votes: valid samples per label (per candidate span)
        samples = _samples(row, where)
        valid = max(samples - invalid, max(votes.values(), default=0))
        if multi:
            votes = {label: votes.get(label, 0) for label in prepared.labels}
    else:
        valid = sum(votes.values())
    recorded = None
    if (multi or spans) and row.committee is not None:  # members vote per item: the run's number
        recorded = _number(row.committee.get("disagreement"), "committee.disagreement", where)
        committee = None
    return Candidate(
        id=row.key,
        label=label,
        confidence=row.confidence,
        votes=votes,
        valid=valid,
        invalid=invalid,
        multi_label=multi,
        committee=committee,
        spans=spans,
        disagreement=recorded,
        probs=_probs(row),
    )


def _probs(row: Row) -> dict[str, float] | None:
    """The row's label distribution if it came from token logprobs (see ``core.review``)."""
    if (row.confidence_method or "vote") == "vote":
        return None
    return row.probs


def _samples(row: Row, where: str) -> int:
    """All samples behind a multi-label or NER row (a committee's: every member's answers)."""
    members = (row.committee or {}).get("samples")
    if members is None:
        return int(row.samples_used or row.provenance.get("samples") or 0)
    if not isinstance(members, dict):
        raise InputError("'committee.samples' is not a {member: count} object", where=where)
    return sum(int(_number(n, "committee.samples", where)) for n in members.values())


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} {value!r} is not a number", where=where, hint=_PREDICTIONS_HINT)
    return float(value)


def _committee(value: Any, where: str) -> list[Member] | None:
    """A committee run's per-member votes (the row's ``committee`` object), if any."""
    if value is None:
        return None
    try:
        votes, weights, invalid = value["votes"], value["weights"], value.get("invalid", {})
        return [
            Member(
                str(name),
                {str(k): int(n) for k, n in member_votes.items()},
                int(invalid.get(name, 0)),
                float(weights[name]),
            )
            for name, member_votes in votes.items()
        ]
    except (TypeError, KeyError, ValueError, AttributeError):
        raise InputError(
            "'committee' is not a committee run's {votes, invalid, weights, ...} object",
            where=where,
            hint=_PREDICTIONS_HINT,
        ) from None


def _label_of(value: Any, prepared: PreparedTask, where: str = "") -> Label | None:
    """A row's label in the task's terms (multi-label: a tuple in label order; NER: the
    entities in text order)."""
    if value is None:
        return None
    if prepared.spec.kind == "ner":
        entities = entities_of(value)
        problem = (
            "the row has no list of {start, end, label, text} entities"
            if entities is None
            else entity_problem(entities, prepared.labels, None)
        )
        if problem is not None or entities is None:
            raise InputError(
                f"{problem} (task '{prepared.spec.name}')",
                where=where or None,
                hint="pass the task file the predictions were made with",
            )
        return entities
    multi = prepared.spec.kind == "multi_label"
    names = value if multi and isinstance(value, list) else [value]
    unknown = [v for v in names if v not in prepared.labels]
    if unknown or multi != isinstance(value, list):
        raise InputError(
            f"label {value!r} is not {'a list of labels' if multi else 'a label'} of task "
            f"'{prepared.spec.name}'",
            where=where or None,
            hint="pass the task file the predictions were made with",
        )
    if multi:
        return tuple(label for label in prepared.labels if label in names)
    return str(value)


def _records(
    input: str | Path, prepared: PreparedTask, rows: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The input records of the predictions, by id; every prediction must find its record."""
    found: dict[str, dict[str, Any]] = {}
    for record in read_records(input, id_field=prepared.spec.id_field, keep_bad=True):
        if record.error is None and record.id in rows:  # a bad line's row was skipped
            found.setdefault(record.id, record.data)
    missing = [i for i in rows if i not in found]
    if missing:
        raise InputError(
            f"prediction '{missing[0]}' has no record in {input} "
            f"({len(missing)} of {len(rows)} missing)",
            where=rows[missing[0]][1],
            hint="pass the input file that was labeled with --input",
        )
    return found


def _model_version(row: Row) -> str:
    p = row.provenance
    parts = [p.get("model_id") or p.get("model"), p.get("template"), p.get("template_hash")]
    return " ".join(str(x) for x in parts if x) or "llmlabel"


def _plain(label: Label | None) -> Any:
    """A label as JSON: a string, a list of labels, or (NER) a list of entity objects."""
    if isinstance(label, tuple):
        return [x._asdict() if isinstance(x, Span) else x for x in label]
    return label


def _spans_of(label: Label) -> Entities:
    return tuple(x for x in label if isinstance(x, Span)) if isinstance(label, tuple) else ()


def _key(label: Label | None) -> Any:
    """What tells two labels apart (NER entities: start, end and type)."""
    if isinstance(label, tuple):
        return frozenset((x.start, x.end, x.label) if isinstance(x, Span) else x for x in label)
    return label


def _span_scores(row: Row) -> dict[Span, float]:
    """Each kept entity's confidence in an NER row."""
    scores = {}
    for item in row.label or []:
        entity = entities_of([item])
        confidence = item.get("confidence") if isinstance(item, dict) else None
        if entity and isinstance(confidence, (int, float)):
            scores[entity[0]] = float(confidence)
    return scores


def _json_number(value: float) -> float | None:
    """JSON has no infinity: a row with no valid vote is written as ``null`` (most uncertain)."""
    return None if value == float("inf") else round(value, 6)


def _names(values: tuple[str, ...]) -> str:
    return ", ".join(values)
