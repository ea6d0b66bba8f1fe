"""Export a silver set: predictions in, a filtered, split, documented training set out.

Predictions rows hold labels but not the records' text, so the input file is streamed once and
joined by id. Selection is ``core.silver`` (pure), the card ``core.card``, the writers
``io.export``; this module reads, checks and wires them together. ``api.export`` is this.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmlabel.core.card import CardFacts, provenance_field, provenance_key, render_card
from llmlabel.core.schema import example_answer
from llmlabel.core.silver import Candidate, Selection, SilverOptions, select, silver_row
from llmlabel.errors import ConfigError, ExportError, InputError
from llmlabel.io.export import FORMATS, check_output, layout, write_export
from llmlabel.io.readers import InputRecord, check_fields, read_records
from llmlabel.io.sink import iter_numbered_rows
from llmlabel.task import PreparedTask, load

STATUSES = ("labeled", "abstained", "failed")
_PREDICTIONS_HINT = "PREDICTIONS must be an output file of `llmlabel run`"

RowMaker = Callable[[InputRecord, Candidate], dict[str, Any]]


@dataclass(frozen=True)
class ExportResult:
    output: Path
    card: Path
    format: str
    selection: Selection
    notes: list[str] = field(default_factory=list)


@dataclass
class Predictions:
    """Candidates in file order, where each came from, and the distinct provenances."""

    path: str
    candidates: list[Candidate] = field(default_factory=list)
    where: dict[str, str] = field(default_factory=dict)
    provenance: Counter[str] = field(default_factory=Counter)


def export(
    predictions: str | Path,
    input: str | Path,
    output: str | Path,
    *,
    format: str = "hf",
    task: str | Path | None = None,
    min_confidence: float | None = None,
    drop_abstained: bool = True,
    per_class_max: int | None = None,
    balance: bool = False,
    split: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> ExportResult:
    """Write the selected predictions, joined with their ``input`` records, to ``output``.

    ``format``: hf | parquet | jsonl | csv | sft (``sft`` needs ``task`` to render prompts).
    See ``core.silver`` for the order of the filters and ``io.export`` for the layout.
    """
    options = _options(min_confidence, drop_abstained, per_class_max, balance, split, seed)
    prepared = _prepared(task, format, options)
    target = layout(output, format, split is not None)
    check_output(target, overwrite)
    read = read_predictions(predictions, prepared)
    selection = select(read.candidates, options)
    _check_selection(selection, options, read.path)
    id_field = prepared.spec.id_field if prepared else "id"
    make_row = _sft_maker(prepared) if prepared and format == "sft" else _plain_maker(id_field)
    rows, unmatched = join(input, id_field, read, selection, make_row)
    notes = _notes(read, prepared, format, unmatched)
    facts = CardFacts(
        title=_title(read, prepared, predictions),
        format=format,
        files=target.data_names(list(rows)),
        selection=selection,
        provenance=read.provenance,
        labeled_confidences=[c.confidence for c in read.candidates if c.labeled],
        split=split,
        seed=seed,
        notes=notes,
    )
    write_export(target, rows, render_card(facts), _label_names(read, prepared))
    return ExportResult(target.output, target.card, format, selection, notes)


def _options(
    min_confidence: float | None,
    drop_abstained: bool,
    per_class_max: int | None,
    balance: bool,
    split: float | None,
    seed: int,
) -> SilverOptions:
    try:
        return SilverOptions(
            min_confidence=min_confidence,
            drop_abstained=drop_abstained,
            per_class_max=per_class_max,
            balance=balance,
            split=split,
            seed=seed,
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        name = "--" + str(first["loc"][0]).replace("_", "-")
        raise ConfigError(
            f"{name}: {first['msg']} (got {first['input']!r})",
            hint="--min-confidence is in [0, 1], --split in (0, 1), --per-class-max >= 1",
        ) from None


def _prepared(task: str | Path | None, fmt: str, options: SilverOptions) -> PreparedTask | None:
    """The task, if given, after checking the options that only some formats allow."""
    if fmt not in FORMATS:
        raise ConfigError(
            f"unknown export format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}"
        )
    if fmt == "sft" and task is None:
        raise ConfigError(
            "--format sft needs --task to render the prompts",
            hint="pass the task file the predictions were made with",
        )
    if fmt == "sft" and not options.drop_abstained:
        raise ConfigError(
            "an SFT file needs a label for every record", hint="drop --keep-abstained"
        )
    if task is None:
        return None
    prepared = load(task)
    if prepared.spec.kind != "classification":
        raise ConfigError(
            f"export handles classification tasks; '{prepared.spec.name}' is {prepared.spec.kind}",
            where=str(task),
            hint="export its predictions as jsonl without --task",
        )
    return prepared


def read_predictions(path: str | Path, prepared: PreparedTask | None = None) -> Predictions:
    """Every prediction row as a checked ``Candidate`` (ids unique, labels in the task's)."""
    read = Predictions(str(path))
    for lineno, row in iter_numbered_rows(path):
        where = f"{path}:{lineno}"
        candidate = _candidate(row, where)
        if candidate.id in read.where:
            raise InputError(
                f"prediction '{candidate.id}' appears twice (first at {read.where[candidate.id]})",
                where=where,
                hint="ids must be unique; was a run appended to another?",
            )
        if prepared is not None and candidate.labeled and candidate.label not in prepared.labels:
            raise InputError(
                f"label '{candidate.label}' is not a label of task '{prepared.spec.name}'",
                where=where,
                hint="pass the task file the predictions were made with",
            )
        read.candidates.append(candidate)
        read.where[candidate.id] = where
        read.provenance[provenance_key(row.get("provenance") or {})] += 1
    if not read.candidates:
        raise InputError("no predictions in the file", where=str(path), hint=_PREDICTIONS_HINT)
    return read


def _candidate(row: dict[str, Any], where: str) -> Candidate:
    record_id, status, label = row.get("id"), row.get("status"), row.get("label")
    confidence = row.get("confidence", 0.0)
    problem = None
    if isinstance(record_id, bool) or not isinstance(record_id, (str, int, float)):
        problem = "the row has no string or number 'id'"
    elif status not in STATUSES:
        problem = f"status {status!r} is not one of {', '.join(STATUSES)}"
    elif isinstance(label, list):
        problem = "multi-label predictions cannot be exported yet (classification only)"
    elif status == "labeled" and not isinstance(label, str):
        problem = "a labeled row has no string 'label'"
    elif isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        problem = f"confidence {confidence!r} is not a number"
    if problem is not None:
        raise InputError(problem, where=where, hint=_PREDICTIONS_HINT)
    assert isinstance(status, str) and isinstance(confidence, (int, float))
    return Candidate(str(record_id), status, label, float(confidence))


def _check_selection(selection: Selection, options: SilverOptions, where: str) -> None:
    removed = ", ".join(f"{s.name}: {s.removed}" for s in selection.steps if s.removed)
    if not selection.kept:
        raise ExportError(
            f"no records left after filtering {selection.total} predictions ({removed})",
            where=where,
            hint="relax the filters (e.g. a lower --min-confidence)",
        )
    for name, part in selection.splits.items():
        if not part:
            raise ExportError(
                f"a {options.split:g} split of {len(selection.kept)} records leaves {name} empty",
                where=where,
                hint="change --split or export more records",
            )


def join(
    input: str | Path,
    id_field: str,
    read: Predictions,
    selection: Selection,
    make_row: RowMaker,
) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """Stream ``input`` once: exported rows per split, in input order, and the number of input
    records with no prediction. Every prediction must find its record."""
    split_of = selection.split_of()
    chosen = {c.id: c for c in selection.kept}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in selection.splits}
    seen: dict[str, str] = {}
    unmatched = 0
    for record in read_records(input, id_field=id_field):
        if record.id not in read.where:
            unmatched += 1
            continue
        if record.id in seen:
            raise InputError(
                f"record id '{record.id}' appears twice (first at {seen[record.id]})",
                where=record.where,
                hint="ids must be unique to join predictions with their records",
            )
        seen[record.id] = record.where
        if record.id in split_of:
            rows[split_of[record.id]].append(make_row(record, chosen[record.id]))
    missing = [i for i in read.where if i not in seen]
    if missing:
        raise InputError(
            f"prediction '{missing[0]}' has no record in {input} "
            f"({len(missing)} of {len(read.where)} predictions missing)",
            where=read.where[missing[0]],
            hint=f"pass the input file that was labeled with --input (records are matched "
            f"by their '{id_field}' field)",
        )
    return rows, unmatched


def _plain_maker(id_field: str) -> RowMaker:
    def make(record: InputRecord, candidate: Candidate) -> dict[str, Any]:
        return silver_row(record.id, record.data, id_field, candidate.label, candidate.confidence)

    return make


def _sft_maker(prepared: PreparedTask) -> RowMaker:
    """Chat rows: the task's prompt for the record, then the label as the assistant's answer."""

    def make(record: InputRecord, candidate: Candidate) -> dict[str, Any]:
        check_fields(record, prepared.spec.fields)
        messages, _ = prepared.messages_for(record.id, record.data)
        answer = example_answer(prepared.answer_model, {prepared.kind.field: candidate.label})
        turns = [m.model_dump() for m in messages]
        return {"messages": [*turns, {"role": "assistant", "content": answer}]}

    return make


def _label_names(read: Predictions, prepared: PreparedTask | None) -> list[str]:
    """ClassLabel names: the task's label order, else the labels seen, sorted."""
    if prepared is not None:
        return list(prepared.labels)
    return sorted({c.label for c in read.candidates if c.labeled and c.label is not None})


def _title(read: Predictions, prepared: PreparedTask | None, predictions: str | Path) -> str:
    if prepared is not None:
        return prepared.spec.name
    key, _ = read.provenance.most_common(1)[0]
    return str(provenance_field(key, "task") or Path(predictions).stem)


def _notes(read: Predictions, prepared: PreparedTask | None, fmt: str, unmatched: int) -> list[str]:
    notes = []
    if unmatched:
        notes.append(f"{unmatched} input record(s) have no prediction and are not exported")
    if prepared is not None and fmt == "sft":
        hashes = {provenance_field(k, "template_hash") for k in read.provenance}
        if prepared.renderer.hash not in hashes:
            notes.append(
                f"the SFT prompts use template {prepared.renderer.name} "
                f"({prepared.renderer.hash[:12]}), not the one the labels were made with"
            )
    return notes
