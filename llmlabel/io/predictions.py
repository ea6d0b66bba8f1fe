"""Read a run's predictions file for the commands that use its labels (``export``, ``distill``).

Each row becomes a checked ``core.silver.Candidate``: ids unique, one kind per file (the task's,
else the rows' own provenance, else the shape of the label), and, given the task, every label
one of its labels. The kinds are those with an ``Export`` (``Kind.export``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from llmlabel.core.card import provenance_key
from llmlabel.core.kinds import DEFAULT_KIND, KINDS, guess_kind
from llmlabel.core.kinds.base import Export
from llmlabel.core.row import Row
from llmlabel.core.silver import Candidate
from llmlabel.errors import InputError
from llmlabel.io.rowfile import read_rows

_EXPORTED = {name: kind.export for name, kind in KINDS.items() if kind.export is not None}
CLASS_KINDS = tuple(name for name, export in _EXPORTED.items() if export.classes)
"""The kinds with a class per record (what ``distill`` trains on)."""
EXPORT_KINDS = (*CLASS_KINDS, *(name for name in _EXPORTED if name not in CLASS_KINDS))
"""The kinds ``export`` writes (``Kind.export``), those with a class per record first."""
_PREDICTIONS_HINT = "PREDICTIONS must be an output file of `llmlabel run`"


class _Spec(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...


class TaskLabels(Protocol):
    """What the predictions are checked against: the task's name, kind and labels
    (``llmlabel.task.PreparedTask`` is one; io sits below it)."""

    @property
    def spec(self) -> _Spec: ...

    @property
    def labels(self) -> Sequence[str]: ...


@dataclass
class Predictions:
    """Candidates in file order, where each came from, the distinct provenances, and the
    predictions' kind."""

    path: str
    kind: str = DEFAULT_KIND
    candidates: list[Candidate] = field(default_factory=list)
    where: dict[str, str] = field(default_factory=dict)
    provenance: Counter[str] = field(default_factory=Counter)

    @property
    def export(self) -> Export:
        return _export(self.kind)


def read_predictions(
    path: str | Path,
    prepared: TaskLabels | None = None,
    kinds: tuple[str, ...] = CLASS_KINDS,
) -> Predictions:
    """Every prediction row as a checked ``Candidate`` (ids unique, labels in the task's, one
    kind, one of ``kinds``)."""
    read = Predictions(str(path))
    found: str | None = prepared.spec.kind if prepared is not None else None
    for where, row in read_rows(path, skipped=False):
        kind = row.kind if row.kind is not None else guess_kind(row.label)
        _check_kind(kind or found, found, kinds, prepared, where)
        found = found or kind
        candidate = _candidate(row, where, _export(found or DEFAULT_KIND))
        if candidate.id in read.where:
            raise InputError(
                f"prediction '{candidate.id}' appears twice (first at {read.where[candidate.id]})",
                where=where,
                hint="ids must be unique; was a run appended to another?",
            )
        if prepared is not None and candidate.labeled:
            _check_labels(candidate, prepared, _export(found or DEFAULT_KIND), where)
        read.candidates.append(candidate)
        read.where[candidate.id] = where
        read.provenance[provenance_key(row.provenance)] += 1
    if not read.candidates:
        raise InputError("no predictions in the file", where=str(path), hint=_PREDICTIONS_HINT)
    read.kind = found or DEFAULT_KIND
    return read


def _check_kind(
    kind: str | None,
    found: str | None,
    kinds: tuple[str, ...],
    prepared: TaskLabels | None,
    where: str,
) -> None:
    """A row's kind must be one the command handles, and the task's or the other rows'."""
    if kind is None:
        return
    if kind not in kinds:
        raise InputError(
            f"{kind} predictions cannot be used here: this command handles "
            f"{kind_names(kinds)} predictions",
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


def _export(kind: str) -> Export:
    export = KINDS[kind].export
    assert export is not None, f"{kind} is not one of EXPORT_KINDS"
    return export


def _candidate(row: Row, where: str, export: Export) -> Candidate:
    """The row as a candidate; a labeled row's label as the kind exports it (NER: its
    entities in text order)."""
    label = None
    if row.status == "labeled":
        try:
            label = export.label(row.label)
        except ValueError as exc:
            raise InputError(str(exc), where=where, hint=_PREDICTIONS_HINT) from None
    return Candidate(row.key, row.status, label, row.confidence)


def _check_labels(candidate: Candidate, prepared: TaskLabels, export: Export, where: str) -> None:
    assert candidate.label is not None
    unknown = [n for n in export.names(candidate.label) if n not in prepared.labels]
    if unknown:
        raise InputError(
            f"{export.what} '{unknown[0]}' is not a label of task '{prepared.spec.name}'",
            where=where,
            hint="pass the task file the predictions were made with",
        )


def kind_names(kinds: tuple[str, ...]) -> str:
    return ", ".join(kinds[:-1]) + f" and {kinds[-1]}" if len(kinds) > 1 else kinds[0]
