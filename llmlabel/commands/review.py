"""The human review round trip: choose records for people, hand them over, merge what comes back.

``review``: prediction rows → uncertainty ranking (``core.review``) → a Label Studio folder
(``tasks.json`` + ``config.xml``) or an Argilla hand-off folder. ``merge``: reviewers' answers
(a Label Studio JSON export, Argilla records, or JSONL ``{id, label}``) override the model's
labels, with model–reviewer agreement, and can grow the task's few-shot pool.

What depends on the task kind (reading a row's label, checking a correction, the corrected row's
fields, agreement, few-shot answers) the kind's ``Review`` decides (``Kind.review``; NER's is
``llmlabel.core.kinds.ner.SpanReview``). Reading the run is ``review_rows``, reading the
reviewers' answers ``review_corrections``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmlabel.commands.review_corrections import read_corrections
from llmlabel.commands.review_rows import candidate, label_of, read_predictions
from llmlabel.core.kinds import KINDS
from llmlabel.core.kinds.base import Review
from llmlabel.core.review import (
    STRATEGIES,
    Agreement,
    Choice,
    Correction,
    Label,
    Question,
    SpanAgreement,
    choose,
)
from llmlabel.core.row import Row
from llmlabel.errors import ConfigError, InputError
from llmlabel.io import argilla, labelstudio
from llmlabel.io.handoff import append_jsonl, check_new, write_folder, write_jsonl
from llmlabel.io.paths import check_apart
from llmlabel.io.readers import read_records
from llmlabel.task import PreparedTask, load

FORMATS = ("label-studio", "argilla")
REVIEWED = tuple(name for name, kind in KINDS.items() if kind.review is not None)
"""The kinds people can review (``Kind.review``)."""


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
    prepared, rules = _prepared(task)
    question = question_for(prepared, rules)
    target = Path(output)
    reads = {"PREDICTIONS": predictions, "--input": input, "--task": task}
    check_apart({"--output": target}, reads, folders=True)
    check_new(target, force, folder=True)
    rows = read_predictions(predictions, prepared)
    candidates = [candidate(row, where, prepared, rules) for row, where in rows.values()]
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
                rules.scores(rows[ch.id][0].label),
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
                rules.scores(rows[ch.id][0].label),
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
                "label": rules.plain(by_id[ch.id].label),
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
    prepared, rules = _prepared(task)
    question = question_for(prepared, rules)
    target = Path(output)
    check_apart(
        {"--output": target, "--append-examples": append_examples},
        {"PREDICTIONS": predictions, "--corrections": corrections, "--task": task},
    )
    check_new(target, force, folder=False)
    answers, notes = read_corrections(corrections, question, rules)
    rows = read_predictions(predictions, prepared)
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
        model_label = label_of(row.label, prepared, rules, where)
        pairs.append((model_label, correction.label))
        changed += rules.key(model_label) != rules.key(correction.label)
    merged = list(_merged(rows, answers, question, rules))
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
    stats = rules.agreement(pairs, question.labels)
    appended = 0
    if append_examples is not None:
        appended, skipped = _append_examples(Path(append_examples), answers, prepared, rules)
        if skipped:
            notes.append(
                f"{skipped} correction(s) already in {append_examples} were not added again"
            )
    return MergeResult(target, len(rows), len(answers), changed, stats, appended, notes)


def question_for(prepared: PreparedTask, review: Review) -> Question:
    spec = prepared.spec
    return Question(
        name=prepared.kind.field,
        labels=list(prepared.labels),
        fields=list(spec.fields),
        multi_label=review.multi_label,
        title=spec.description or spec.name,
        descriptions={label.name: label.description for label in spec.labels},
        spans=review.spans,
    )


def _merged(
    rows: Mapping[str, tuple[Row, str]],
    answers: Mapping[str, Correction],
    question: Question,
    review: Review,
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
            "label": review.plain(correction.label),
            "confidence": 1.0,
            "source": "human",
            "reviewer": correction.annotator,
            "model": {k: row.get(k) for k in ("status", "label", "confidence")},
        }
        yield {**human, **review.human(row, correction, question.labels)}


def _append_examples(
    pool: Path, answers: Mapping[str, Correction], prepared: PreparedTask, review: Review
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
        label = review.example(correction.label)
        new.append({spec.id_field: correction.id, **fields, label_field: label})
    append_jsonl(pool, new)
    return len(new), len(answers) - len(new)


def _prepared(task: str | Path) -> tuple[PreparedTask, Review]:
    prepared = load(task)
    if prepared.kind.review is None:
        raise ConfigError(
            f"review handles {', '.join(REVIEWED[:-1])} and {REVIEWED[-1]} tasks; "
            f"'{prepared.spec.name}' is {prepared.spec.kind}",
            where=str(task),
        )
    return prepared, prepared.kind.review


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


def _json_number(value: float) -> float | None:
    """JSON has no infinity: a row with no valid vote is written as ``null`` (most uncertain)."""
    return None if value == float("inf") else round(value, 6)


def _names(values: tuple[str, ...]) -> str:
    return ", ".join(values)
