"""Calibrate confidence on gold, and check a calibration on other gold.

Reads predictions and gold, pairs them (``core.evaluation``), cross-fits a map and chooses the
keep/review threshold (``core.crossfit``), and writes the calibration file
(``io.calibfile``). ``api.calibrate`` and ``api.check_calibration`` are these functions.

Predictions from a run that already used a calibration carry ``confidence_raw``; that is the
confidence fitted and calibrated here, so calibrating such a file again starts from the votes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from llmlabel.core import crossfit, evaluation
from llmlabel.core.calibration import DEFAULT_METHOD, METHODS
from llmlabel.core.crossfit import CalibrationCheck
from llmlabel.core.metrics import Outcome
from llmlabel.core.row import Row
from llmlabel.errors import ConfigError
from llmlabel.io.calibfile import (
    CalibrationFile,
    check_output,
    file_source,
    read_calibration,
    write_calibration,
)
from llmlabel.io.paths import check_apart
from llmlabel.io.readers import read_records
from llmlabel.io.rowfile import read_rows


@dataclass(frozen=True)
class CalibrateResult:
    output: Path
    calibration: CalibrationFile


def calibrate(
    predictions: str | Path,
    gold: str | Path,
    output: str | Path,
    *,
    method: str = DEFAULT_METHOD,
    target_accuracy: float | None = 0.95,
    delta: float = 0.05,
    holdout: float = 0.5,
    seed: int = 0,
    bins: int = 10,
    allow_missing: bool = False,
    kind: str | None = None,
) -> CalibrateResult:
    """Fit a calibration map on ``1 - holdout`` of the gold records; on the rest, measure ECE
    before/after and choose the lowest threshold whose kept labels reach ``target_accuracy``
    with probability ≥ 1 - ``delta`` (None: no threshold). Writes ``output`` (calib.json)."""
    if method not in METHODS:
        raise ConfigError(
            f"unknown calibration method '{method}'", hint=f"choose one of: {', '.join(METHODS)}"
        )
    if not 0.0 < delta < 1.0:
        raise ConfigError(f"delta must lie strictly between 0 and 1, not {delta}")
    if not 0.0 < holdout < 1.0:
        raise ConfigError(
            f"holdout must lie strictly between 0 and 1, not {holdout}",
            hint="the held-out share measures the map and chooses the threshold; 0.5 is usual",
        )
    check_apart({"--output": output}, {"PREDICTIONS": predictions, "--gold": gold})
    check_output(output)
    kind, outcomes = read_outcomes(predictions, gold, kind, allow_missing)
    try:
        fitted = crossfit.cross_fit(
            outcomes,
            method,
            target=target_accuracy,
            delta=delta,
            holdout=holdout,
            seed=seed,
            bins=bins,
        )
    except ValueError as exc:
        raise ConfigError(
            f"cannot calibrate on {predictions}: {exc}",
            hint="calibrate on more gold records (a hundred or more)",
        ) from None
    calibration = CalibrationFile(
        kind=kind,
        map=fitted.map,
        selection=fitted.selection,
        held_out=fitted.held_out,
        fitted_on=fitted.fitted_on,
        holdout=holdout,
        seed=seed,
        predictions=file_source(predictions),
        gold=file_source(gold),
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        used_ids=fitted.used_ids,
    )
    return CalibrateResult(output=write_calibration(output, calibration), calibration=calibration)


def check_calibration(
    predictions: str | Path,
    gold: str | Path,
    calibration: str | Path,
    *,
    bins: int = 10,
    allow_missing: bool = False,
    kind: str | None = None,
) -> CalibrationCheck:
    """ECE and Brier before/after, and what the threshold keeps, on the gold records the
    calibration file was neither fitted nor chosen on (the others are left out and counted)."""
    loaded = read_calibration(calibration)
    file = loaded.file
    kind, outcomes = read_outcomes(predictions, gold, kind or file.kind, allow_missing)
    if kind != file.kind:
        raise ConfigError(
            f"{calibration} was fitted on {file.kind} predictions, not {kind}",
            hint="calibrate on predictions of the same task",
        )
    selection = file.selection
    try:
        return crossfit.check(
            outcomes,
            file.router(),
            used_ids=frozenset(file.used_ids),
            target=selection.target if selection else None,
            delta=selection.delta if selection else 0.05,
            bins=bins,
        )
    except ValueError as exc:
        raise ConfigError(
            f"cannot check {calibration} on {gold}: {exc}",
            hint="evaluate on gold records that `llmlabel calibrate` did not see",
        ) from None


def read_outcomes(
    predictions: str | Path, gold: str | Path, kind: str | None, allow_missing: bool = False
) -> tuple[str, list[Outcome]]:
    """The task kind and the scored records of a predictions file against gold, with raw
    confidences (``confidence_raw`` where a row has it)."""
    kind = kind or evaluation.kind_of(row for _, row in read_rows(predictions))
    evaluation.scoring(kind)
    rows = evaluation.parse_predictions(((w, _raw(row)) for w, row in read_rows(predictions)), kind)
    labels = (
        (r.id, evaluation.gold_label(r.id, r.data, r.where, kind)) for r in read_records(gold)
    )
    outcomes, _ = evaluation.pair(
        rows, labels, allow_missing=allow_missing, names=(str(predictions), str(gold)), kind=kind
    )
    return kind, outcomes


def _raw(row: Row) -> Row:
    raw = row.confidence_raw
    return row if raw is None else row.model_copy(update={"confidence": raw})
