"""``llmlabel eval``: score an output file against gold, with the wrong records' text for
error analysis (the scoring itself is ``llmlabel.core.evaluation``, the report
``llmlabel.io.report``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlabel.core import evaluation
from llmlabel.core.evaluation import EvalSummary
from llmlabel.core.runcost import run_cost
from llmlabel.core.wrong_records import wrong_records
from llmlabel.io.manifest import read_manifest, task_labels
from llmlabel.io.paths import check_apart, report_writes
from llmlabel.io.readers import read_records
from llmlabel.io.report import write_report
from llmlabel.io.rowfile import iter_rows, read_rows


@dataclass(frozen=True)
class EvalResult:
    summary: EvalSummary
    report: Path | None
    """report.md, when a report folder was given (summary.json lies beside it)."""


def evaluate(
    predictions: str | Path,
    gold: str | Path,
    *,
    report: str | Path | None = None,
    allow_missing: bool = False,
    target_accuracy: float = 0.95,
    bins: int = 10,
    resamples: int = 1000,
    seed: int = 0,
    kind: str | None = None,
    price_input: float | None = None,
    price_output: float | None = None,
    input: str | Path | None = None,
) -> EvalResult:
    """Score an output file of ``label`` against gold rows (``{id, label}`` for
    classification; each kind's gold format is in docs/eval.md).

    ``input``: the file that was labeled (default: the manifest's input, where it exists); the
    summary's ``wrong`` then lists the wrong records with their text, for error analysis.

    ``kind``: the task kind, by default the rows' ``provenance.kind``. Every gold id needs a
    prediction and every prediction a gold id (``JoinError`` otherwise); ``allow_missing``
    scores the ids in both and reports how many were left out. Abstained and failed records
    count as wrong. ``report``: a folder for summary.json and report.md. When the run's
    manifest lies beside the predictions, the summary carries its cost and time (``cost``),
    with a USD estimate from ``price_input``/``price_output`` (per million tokens).
    """
    check_apart(report_writes(report), {"PREDICTIONS": predictions, "--gold": gold})
    options = evaluation.Options(
        target_accuracy=target_accuracy, bins=bins, resamples=resamples, seed=seed
    )
    kind = kind or evaluation.kind_of(row for _, row in read_rows(predictions))
    evaluation.scoring(kind)  # an unscorable kind fails before any file is read through
    rows = evaluation.parse_predictions(read_rows(predictions), kind)
    labels = (
        (r.id, evaluation.gold_label(r.id, r.data, r.where, kind)) for r in read_records(gold)
    )
    outcomes, pairing = evaluation.pair(
        rows, labels, allow_missing=allow_missing, names=(str(predictions), str(gold)), kind=kind
    )
    manifest = read_manifest(predictions)
    outcomes, warnings = evaluation.check_gold(outcomes, task_labels(manifest), kind)
    summary = evaluation.evaluate(outcomes, pairing, options, kind)
    summary = summary.model_copy(update={"warnings": warnings})
    if manifest is not None and isinstance(manifest.get("totals"), dict):
        cost = run_cost(
            manifest["totals"],
            resumed=bool(manifest.get("resumed")),
            price_input=price_input,
            price_output=price_output,
        )
        summary = summary.model_copy(update={"cost": cost})
    wrong = {o.id for o in outcomes if not o.correct}
    texts = _texts(input, manifest, wrong)
    if texts is None:  # no input file: the fields the rows kept (``keep_fields``), if any
        texts = _kept_texts(predictions, wrong)
    if texts is not None:
        summary = summary.model_copy(update={"wrong": wrong_records(outcomes, texts)})
    sources = {"predictions": str(predictions), "gold": str(gold)}
    path = write_report(summary, report, sources) if report is not None else None
    return EvalResult(summary=summary, report=path)


def _texts(
    input: str | Path | None, manifest: dict[str, Any] | None, ids: set[str]
) -> dict[str, str] | None:
    """The task fields' text of records ``ids`` in ``input`` (else the manifest's input, if
    that file is there); None when there is no input to read."""
    task = (manifest or {}).get("task") or {}
    if input is None:
        named = (manifest or {}).get("input")
        if not isinstance(named, str) or not Path(named).is_file():
            return None
        input = named
    fields = task.get("fields") or ["text"]
    texts = {}
    for record in read_records(input, id_field=task.get("id_field") or "id", keep_bad=True):
        if record.error is None and record.id in ids:
            texts[record.id] = " | ".join(str(record.data.get(f, "")) for f in fields)
    return texts


def _kept_texts(predictions: str | Path, ids: set[str]) -> dict[str, str] | None:
    """The ``input`` fields rows ``ids`` of ``predictions`` kept; None when none kept any."""
    texts = {
        str(row.get("id")): " | ".join(map(str, row["input"].values()))
        for row in iter_rows(predictions)
        if isinstance(row.get("input"), dict) and str(row.get("id")) in ids
    }
    return texts or None
