"""Export a silver set: predictions in, a filtered, split, documented training set out.

Predictions rows hold labels but not the records' text, so the input file is streamed once and
joined by id. Selection is ``core.silver`` (pure), the card ``core.card``, NER rows
``core.silverspans``, the writers ``io.export``; this module reads, checks and wires them
together. ``api.export`` is this.

Kinds: classification and relation predictions (a class per record) and NER predictions (char
spans; exported as ``entities`` plus ``tokens`` and BIO ``ner_tags``). A row's kind is its
provenance's ``kind``, else read from the shape of its label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmlabel.core.card import CardFacts, provenance_field, provenance_key, render_card
from llmlabel.core.row import Row
from llmlabel.core.schema import example_answer
from llmlabel.core.silver import Candidate, Selection, SilverOptions, select, silver_row
from llmlabel.core.silverspans import (
    Entities,
    as_dicts,
    bio_names,
    entities_of,
    misplaced,
    overlapping,
    tag,
)
from llmlabel.errors import ConfigError, ExportError, InputError
from llmlabel.io.export import FORMATS, ClassNames, check_output, layout, write_export
from llmlabel.io.manifest import read_manifest, task_labels
from llmlabel.io.paths import check_apart
from llmlabel.io.readers import InputRecord, check_fields, read_records
from llmlabel.io.sink import read_rows
from llmlabel.task import PreparedTask, load

CLASS_KINDS = ("classification", "relation")
EXPORT_KINDS = (*CLASS_KINDS, "ner")
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
    """Candidates in file order, where each came from, the distinct provenances, and the
    predictions' kind."""

    path: str
    kind: str = "classification"
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
    check_apart(
        {"--output": target.output, "the card": target.card},
        {"PREDICTIONS": predictions, "--input": input, "--task": task},
        folders=target.folder,
    )
    check_output(target, overwrite)
    read = read_predictions(predictions, prepared, EXPORT_KINDS)
    if read.kind == "ner" and (per_class_max is not None or balance):
        raise ConfigError(
            "--per-class-max and --balance need a class per record; NER predictions have none",
            where=read.path,
            hint="filter NER predictions with --min-confidence",
        )
    selection = select(read.candidates, options)
    _check_selection(selection, options, read.path)
    id_field = prepared.spec.id_field if prepared else "id"
    tagging = _Tagging()
    if prepared and format == "sft":
        make_row = _sft_maker(prepared)
    elif read.kind == "ner":
        make_row = _ner_maker(id_field, tagging)
    else:
        make_row = _plain_maker(id_field)
    rows, unmatched = join(input, id_field, read, selection, make_row)
    notes = [*_notes(read, prepared, format, unmatched), *tagging.notes()]
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
        kind="ner" if read.kind == "ner" else "classification",
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
            f"export handles {_kind_names(EXPORT_KINDS)} tasks; '{prepared.spec.name}' is "
            f"{prepared.spec.kind}",
            where=str(task),
        )
    return prepared


def read_predictions(
    path: str | Path,
    prepared: PreparedTask | None = None,
    kinds: tuple[str, ...] = CLASS_KINDS,
) -> Predictions:
    """Every prediction row as a checked ``Candidate`` (ids unique, labels in the task's, one
    kind, one of ``kinds``)."""
    read = Predictions(str(path))
    found: str | None = prepared.spec.kind if prepared is not None else None
    for where, row in read_rows(path, skipped=False):
        kind = _row_kind(row)
        _check_kind(kind, found, kinds, prepared, where)
        found = found or kind
        candidate = _candidate(row, where, found or "classification")
        if candidate.id in read.where:
            raise InputError(
                f"prediction '{candidate.id}' appears twice (first at {read.where[candidate.id]})",
                where=where,
                hint="ids must be unique; was a run appended to another?",
            )
        if prepared is not None and candidate.labeled:
            _check_labels(candidate, prepared, where)
        read.candidates.append(candidate)
        read.where[candidate.id] = where
        read.provenance[provenance_key(row.provenance)] += 1
    if not read.candidates:
        raise InputError("no predictions in the file", where=str(path), hint=_PREDICTIONS_HINT)
    read.kind = found or "classification"
    return read


def _check_kind(
    kind: str | None,
    found: str | None,
    kinds: tuple[str, ...],
    prepared: PreparedTask | None,
    where: str,
) -> None:
    """A row's kind must be one the command handles, and the task's or the other rows'."""
    if kind is None:
        return
    if kind not in kinds:
        raise InputError(
            f"{kind} predictions cannot be used here: this command handles "
            f"{_kind_names(kinds)} predictions",
            where=where,
        )
    if found is not None and kind != found:
        if prepared is not None:
            raise InputError(
                f"the row is a {kind} prediction, but task '{prepared.spec.name}' is {found}",
                where=where,
                hint="pass the task file the predictions were made with",
            )
        raise InputError(
            f"the row is a {kind} prediction, but others are {found}",
            where=where,
            hint="export one run's predictions at a time",
        )


def _row_kind(row: Row) -> str | None:
    """The row's kind: its provenance's, else read from its label (``None``: no label)."""
    if row.kind is not None:
        return row.kind
    label = row.label
    if isinstance(label, str):
        return "classification"
    if isinstance(label, dict):
        return "extraction"
    if isinstance(label, list) and label:
        return "ner" if isinstance(label[0], dict) else "multi_label"
    return None


def _candidate(row: Row, where: str, kind: str) -> Candidate:
    """The row as a candidate; a labeled NER row's label is its entities in text order."""
    label = row.label if row.status == "labeled" else None
    problem = None
    if row.status == "labeled" and kind == "ner":
        label = entities_of(label)
        if label is None:
            problem = "a labeled NER row has no list of {start, end, label, text} entities"
    elif row.status == "labeled" and not isinstance(label, str):
        problem = "a labeled row has no string 'label'"
    if problem is not None:
        raise InputError(problem, where=where, hint=_PREDICTIONS_HINT)
    return Candidate(row.key, row.status, label, row.confidence)


def _check_labels(candidate: Candidate, prepared: PreparedTask, where: str) -> None:
    label = candidate.label
    names = [label] if isinstance(label, str) else [s.label for s in label or ()]
    unknown = [n for n in names if n not in prepared.labels]
    if unknown:
        what = "label" if isinstance(label, str) else "entity type"
        raise InputError(
            f"{what} '{unknown[0]}' is not a label of task '{prepared.spec.name}'",
            where=where,
            hint="pass the task file the predictions were made with",
        )


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


def _plain_maker(id_field: str) -> RowMaker:
    def make(record: InputRecord, candidate: Candidate) -> dict[str, Any]:
        answer = {"label": candidate.label}
        return silver_row(record.id, record.data, id_field, answer, candidate.confidence)

    return make


@dataclass
class _Tagging:
    """What NER rows' tokens came from, for the card's notes."""

    records: int = 0
    tokenized: int = 0
    entities: int = 0
    misaligned: int = 0

    def notes(self) -> list[str]:
        notes = []
        if self.tokenized:
            notes.append(
                f"{self.tokenized} of {self.records} record(s) had no `tokens`: their tokens are "
                "runs of word characters and single other non-space characters"
            )
        if self.misaligned:
            notes.append(
                f"{self.misaligned} of {self.entities} entities start or end inside a token; "
                "their `ner_tags` cover the whole tokens, `entities` keep the exact spans"
            )
        return notes


def _ner_maker(id_field: str, tagging: _Tagging) -> RowMaker:
    """NER rows: ``entities`` as char spans, ``tokens`` and BIO ``ner_tags``."""

    def make(record: InputRecord, candidate: Candidate) -> dict[str, Any]:
        text = record.data.get("text")
        if not isinstance(text, str):
            raise InputError(
                "the record has no string 'text' to locate its entities in",
                where=record.where,
                hint="pass the input file that was labeled with --input",
            )
        entities = _entities(candidate, text, record.where)
        tagged = tag(text, record.data.get("tokens"), entities or ())
        if tagged is None:
            raise InputError(
                "the record's 'tokens' are not found, in order, in its 'text'",
                where=record.where,
                hint="fix the tokens, or drop the field to have llmlabel tokenize the text",
            )
        answer: dict[str, Any] = {"entities": as_dicts(entities) if entities is not None else None}
        if tagged.tokenized:
            answer["tokens"] = tagged.tokens
        answer["ner_tags"] = tagged.tags if entities is not None else None
        tagging.records += 1
        tagging.tokenized += tagged.tokenized
        tagging.entities += len(entities or ())
        tagging.misaligned += tagged.misaligned
        return silver_row(record.id, record.data, id_field, answer, candidate.confidence)

    return make


def _entities(candidate: Candidate, text: str, where: str) -> Entities | None:
    """The candidate's entities, checked against the record's text (``None``: unlabeled)."""
    if not candidate.labeled or isinstance(candidate.label, str) or candidate.label is None:
        return None
    entities = candidate.label
    wrong = misplaced(entities, text)
    if wrong is not None:
        raise InputError(
            f"prediction '{candidate.id}': entity {wrong.text!r} is not at "
            f"{wrong.start}:{wrong.end} in the record's text",
            where=where,
            hint="pass the input file that was labeled with --input",
        )
    pair = overlapping(entities)
    if pair is not None:
        raise InputError(
            f"prediction '{candidate.id}': entities {pair[0].text!r} and {pair[1].text!r} "
            "overlap; BIO tags cannot hold both",
            where=where,
            hint="keep one of them (llmlabel run never keeps overlapping spans)",
        )
    return entities


def _sft_maker(prepared: PreparedTask) -> RowMaker:
    """Chat rows: the task's prompt for the record, then the label as the assistant's answer."""

    def make(record: InputRecord, candidate: Candidate) -> dict[str, Any]:
        check_fields(record, prepared.spec.fields)
        messages, _ = prepared.messages_for(record.id, record.data)
        label: Any = candidate.label
        if not isinstance(label, str) and label is not None:  # NER: what the model is asked for
            label = [{"text": s.text, "label": s.label} for s in label]
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
            seen.update([c.label] if isinstance(c.label, str) else (s.label for s in c.label))
    if prepared is not None:
        names = list(prepared.labels)
    else:
        names = task_labels(read_manifest(predictions)) or sorted(seen)
    return {"ner_tags": bio_names(names)} if read.kind == "ner" else {"label": names}


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


def _kind_names(kinds: tuple[str, ...]) -> str:
    return ", ".join(kinds[:-1]) + f" and {kinds[-1]}" if len(kinds) > 1 else kinds[0]
