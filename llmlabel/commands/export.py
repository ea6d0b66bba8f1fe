"""Export a silver set: predictions in, a filtered, split, documented training set out.

Predictions rows hold labels but not the records' text, so the input file is streamed once and
joined by id. Selection is ``core.silver`` (pure), the card ``core.card``, the writers
``io.export``, the predictions' reader ``io.predictions``; this module checks and wires them
together. ``api.export`` is this.

Kinds: those with an ``Export`` (``Kind.export``): classification and relation predictions (a
class per record) and NER predictions (char spans; exported as ``entities`` plus ``tokens`` and
BIO ``ner_tags``, ``core.kinds.ner.NerExport``). A row's kind is its provenance's ``kind``, else
read from the shape of its label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmlabel.core.card import CardFacts, provenance_field, render_card
from llmlabel.core.kinds.base import Export, SilverRows
from llmlabel.core.schema import example_answer
from llmlabel.core.silver import Candidate, Selection, SilverOptions, select
from llmlabel.errors import ConfigError, ExportError, InputError
from llmlabel.io.export import FORMATS, ClassNames, check_output, layout, write_export
from llmlabel.io.manifest import read_manifest, task_labels
from llmlabel.io.paths import check_apart
from llmlabel.io.predictions import EXPORT_KINDS, Predictions, kind_names, read_predictions
from llmlabel.io.readers import InputRecord, check_fields, read_records
from llmlabel.task import PreparedTask, load

RowMaker = Callable[[InputRecord, Candidate], dict[str, Any]]


@dataclass(frozen=True)
class ExportResult:
    output: Path
    card: Path
    format: str
    selection: Selection
    notes: list[str] = field(default_factory=list)


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
    check_apart(
        {"--output": target.output, "the card": target.card},
        {"PREDICTIONS": predictions, "--input": input, "--task": task},
        folders=target.folder,
    )
    check_output(target, overwrite)
    read = read_predictions(predictions, prepared, EXPORT_KINDS)
    if not read.export.classes and (per_class_max is not None or balance):
        raise ConfigError(
            "--per-class-max and --balance need a class per record; "
            f"{read.kind} predictions have none",
            where=read.path,
            hint=f"filter {read.kind} predictions with --min-confidence",
        )
    selection = select(read.candidates, options)
    _check_selection(selection, options, read.path)
    id_field = prepared.spec.id_field if prepared else "id"
    writer = read.export.rows(id_field)
    make_row = _sft_maker(prepared, read.export) if prepared and format == "sft" else _of(writer)
    rows, unmatched = join(input, id_field, read, selection, make_row)
    notes = [*_notes(read, prepared, format, unmatched), *writer.notes()]
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
        kind=read.kind,
    )
    write_export(target, rows, render_card(facts), _classes(read, prepared, predictions))
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
    if prepared.spec.kind not in EXPORT_KINDS:
        raise ConfigError(
            f"export handles {kind_names(EXPORT_KINDS)} tasks; '{prepared.spec.name}' is "
            f"{prepared.spec.kind}",
            where=str(task),
        )
    return prepared


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
    for record in read_records(input, id_field=id_field, keep_bad=True):
        if record.error is not None or record.id not in read.where:  # bad: its row was skipped
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


def _of(writer: SilverRows) -> RowMaker:
    """The kind's rows (``Export.rows``)."""

    def make(record: InputRecord, candidate: Candidate) -> dict[str, Any]:
        return writer.row(record.id, record.data, record.where, candidate)

    return make


def _sft_maker(prepared: PreparedTask, export: Export) -> RowMaker:
    """Chat rows: the task's prompt for the record, then the label as the assistant's answer."""

    def make(record: InputRecord, candidate: Candidate) -> dict[str, Any]:
        check_fields(record, prepared.spec.fields)
        messages, _ = prepared.messages_for(record.id, record.data)
        label = export.answer(candidate.label)  # what the model is asked for
        answer = example_answer(prepared.answer_model, {prepared.kind.field: label})
        turns = [m.model_dump() for m in messages]
        return {"messages": [*turns, {"role": "assistant", "content": answer}]}

    return make


def _classes(
    read: Predictions, prepared: PreparedTask | None, predictions: str | Path
) -> ClassNames:
    """ClassLabel columns: ``label`` (NER: ``ner_tags``, BIO over the entity types); names in
    the task's label order (``--task``, else the run's manifest), else the labels seen, sorted
    (then ids can change between runs: the card says so)."""
    seen: set[str] = set()
    for c in read.candidates:
        if c.labeled and c.label is not None:
            seen.update(read.export.names(c.label))
    if prepared is not None:
        names = list(prepared.labels)
    else:
        names = task_labels(read_manifest(predictions)) or sorted(seen)
    return read.export.columns(names)


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
