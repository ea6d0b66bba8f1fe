"""Audit a gold set or few-shot pool against a run's votes: which given labels look wrong.

Reads the predictions (a run over the gold records) and the gold rows, pairs them by id,
turns each row's votes into a distribution (calibrated with ``--calibration``), runs confident
learning (``core.audit``) and writes the flagged records, most suspicious first, with the
gold row's fields so a person can fix them. ``api.audit`` is ``audit`` here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmlabel.core.audit import Audit, Audited, Flag, distribution
from llmlabel.core.audit import audit as confident_learning
from llmlabel.core.calibration import CalibrationMap
from llmlabel.core.kinds import DEFAULT_KIND, KINDS
from llmlabel.errors import ConfigError, InputError
from llmlabel.io.calibfile import read_calibration
from llmlabel.io.handoff import check_new, write_jsonl
from llmlabel.io.paths import check_apart
from llmlabel.io.readers import read_records
from llmlabel.io.rowfile import read_rows

_PREDICTIONS_HINT = "PREDICTIONS must be an output file of `llmlabel run` over the gold records"
AUDITED = tuple(name for name, kind in KINDS.items() if kind.audit)
"""The kinds whose gold ``audit`` checks (``Kind.audit``)."""


@dataclass(frozen=True)
class AuditResult:
    output: Path
    audit: Audit
    calibrated: bool
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Votes:
    label: str | None
    votes: dict[str, int]
    invalid: int
    where: str
    probs: dict[str, float] | None = None
    """The row's label distribution from token logprobs (``confidence: logprob | combined``)."""


def audit(
    predictions: str | Path,
    gold: str | Path,
    output: str | Path,
    *,
    calibration: str | Path | None = None,
    threshold: float | None = None,
    label_field: str = "label",
    allow_missing: bool = False,
    force: bool = False,
    input: str | Path | None = None,
) -> AuditResult:
    """Write the records of ``gold`` whose given label the model confidently contradicts to
    ``output`` (JSONL, most suspicious first). ``threshold`` replaces the per-class thresholds
    (each class's mean self-confidence); ``calibration`` (a calib.json) calibrates the leader's
    vote share first. ``input``: the labeled records, joined by id, for flagged rows whose
    gold row holds only an id and a label (their ``record`` is then the input's)."""
    if threshold is not None and not 0.0 < threshold <= 1.0:
        raise ConfigError(f"--threshold must lie in (0, 1] (got {threshold})")
    mapping = _calibration_map(calibration)
    target = Path(output)
    check_apart(
        {"--output": target},
        {"PREDICTIONS": predictions, "--gold": gold, "--calibration": calibration,
         "--input": input},
    )  # fmt: skip
    check_new(target, force, folder=False)
    votes = _read_votes(predictions)
    records: list[Audited] = []
    data: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for record in read_records(gold):
        given = record.data.get(label_field)
        if not isinstance(given, str) or not given:
            raise InputError(
                f"gold record '{record.id}' has no string '{label_field}'",
                where=record.where,
                hint='gold and pool rows look like {"id": ..., "label": ...}; '
                "--label-field names another column",
            )
        if record.id in data:
            raise InputError(f"gold id '{record.id}' appears twice", where=record.where)
        data[record.id] = {k: v for k, v in record.data.items() if k not in (label_field, "id")}
        row = votes.get(record.id)
        if row is None:
            missing.append(record.id)
            continue
        records.append(_audited(record.id, given, row, mapping))
    notes = _check_pairing(missing, len(data), len(votes), predictions, gold, allow_missing)
    if not records:
        raise InputError("no gold record has a prediction", where=str(gold), hint=_PREDICTIONS_HINT)
    result = confident_learning(records, threshold=threshold)
    if input is not None:
        _join_input(input, data, {f.id for f in result.flags})
    by_id = {r.id: r for r in records}
    rows = (
        _flag_row(rank, flag, by_id[flag.id].votes, data[flag.id])
        for rank, flag in enumerate(result.flags, start=1)
    )
    write_jsonl(target, rows)
    return AuditResult(target, result, mapping is not None, notes)


def _join_input(input: str | Path, data: dict[str, dict[str, Any]], ids: set[str]) -> None:
    """Add each flagged record's input fields to its gold fields (gold wins on a clash)."""
    for record in read_records(input, keep_bad=True):
        if record.error is None and record.id in ids:
            fields = {k: v for k, v in record.data.items() if k != "id"}
            data[record.id] = {**fields, **data[record.id]}


def _calibration_map(calibration: str | Path | None) -> CalibrationMap | None:
    if calibration is None:
        return None
    loaded = read_calibration(calibration)
    if loaded.file.kind not in AUDITED:
        raise ConfigError(
            f"the calibration was fitted on {loaded.file.kind} predictions",
            where=str(calibration),
            hint=f"audit {_names()} gold with a calibration of a {_names()} run",
        )
    return loaded.file.map


def _read_votes(path: str | Path) -> dict[str, _Votes]:
    found: dict[str, _Votes] = {}
    for where, row in read_rows(path, skipped=False):
        kind = row.kind or DEFAULT_KIND
        if kind not in AUDITED or isinstance(row.label, list):
            raise InputError(
                f"audit handles {_names()} predictions; this row is {kind}",
                where=where,
                hint=f"audit the gold of a {_names()} task",
            )
        key = row.key
        if key in found:
            raise InputError(
                f"prediction '{key}' appears twice (first at {found[key].where})", where=where
            )
        label = row.label if row.status == "labeled" and isinstance(row.label, str) else None
        probs = row.probs if (row.confidence_method or "vote") != "vote" else None
        found[key] = _Votes(label, dict(row.votes), len(row.invalid), where, probs)
    if not found:
        raise InputError("no predictions in the file", where=str(path), hint=_PREDICTIONS_HINT)
    return found


def _audited(record_id: str, given: str, row: _Votes, mapping: CalibrationMap | None) -> Audited:
    if row.label is None:
        return Audited(record_id, given, {}, row.votes)
    if row.probs:  # the model's own label distribution, calibrated on the leader like votes
        probs = dict(row.probs)
        if mapping is not None:
            top, rest = mapping(probs[row.label]), 1.0 - probs[row.label]
            probs = {
                k: top if k == row.label else (1.0 - top) * p / rest if rest else 0.0
                for k, p in probs.items()
            }
        return Audited(record_id, given, probs, row.votes)
    calibrated = None
    if mapping is not None:
        total = sum(row.votes.values()) + row.invalid
        calibrated = mapping(row.votes.get(row.label, 0) / total) if total else None
    probs = distribution(row.votes, row.invalid, leader=row.label, calibrated=calibrated)
    return Audited(record_id, given, probs, row.votes)


def _check_pairing(
    missing: list[str],
    gold: int,
    predictions: int,
    predictions_path: str | Path,
    gold_path: str | Path,
    allow_missing: bool,
) -> list[str]:
    if missing and not allow_missing:
        raise InputError(
            f"{len(missing)} of {gold} gold records have no prediction (e.g. '{missing[0]}')",
            where=str(gold_path),
            hint=f"label the gold records first (llmlabel run TASK --input {gold_path}), or "
            "pass --allow-missing to audit the ones that have one",
        )
    notes = []
    if missing:
        notes.append(f"{len(missing)} gold record(s) without a prediction were not audited")
    extra = predictions - (gold - len(missing))
    if extra:
        notes.append(f"{extra} prediction(s) in {predictions_path} have no gold record")
    return notes


def _flag_row(
    rank: int, flag: Flag, votes: Mapping[str, int], record: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "rank": rank,
        "id": flag.id,
        "given": flag.given,
        "suggested": flag.suggested,
        "margin": _round(flag.margin),
        "p_given": _round(flag.p_given),
        "p_suggested": _round(flag.p_suggested),
        "threshold": _round(flag.threshold),
        "votes": dict(votes),
        "record": dict(record),
    }


def _round(value: float) -> float:
    return round(value, 6) if math.isfinite(value) else value


def _names() -> str:
    return " or ".join(AUDITED)
