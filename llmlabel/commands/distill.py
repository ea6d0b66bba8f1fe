"""Distill a silver set into a small student classifier and measure it on gold.

The student is sentence embeddings (``select.embed``: MiniLM when the ``embeddings`` extra is
installed, else TF-IDF fitted on the silver texts) + scikit-learn's logistic regression. Reads
the predictions (as ``export`` does), joins their records from ``input`` by id, scores the
student on gold (cross-fitted when the gold records are silver ones too, see
``core.distill``) and writes a report: the student's gold accuracy and macro-F1 with bootstrap
intervals, and two learning curves — accuracy against the number of silver records, and
against the confidence threshold beside a random subset of the same size (the evidence that
filtering by confidence is worth it). ``api.distill`` is ``distill`` here; the student and its
curves are ``distill_student``, the result and its report ``distill_report``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llmlabel.commands.distill_report import DistillResult, write_report
from llmlabel.commands.distill_student import (
    Student,
    Vectors,
    curve_by_size,
    curve_by_threshold,
    fit_predict,
    load_student,
    save_student,
    text_of,
)
from llmlabel.core import distill as plan
from llmlabel.core.metrics import Outcome, accuracy, bootstrap, macro_f1
from llmlabel.errors import ConfigError, InputError, OutputError
from llmlabel.io import plots
from llmlabel.io.paths import check_apart, report_writes
from llmlabel.io.predictions import read_predictions
from llmlabel.io.readers import InputRecord, read_records
from llmlabel.select.embed import EmbedderName
from llmlabel.task import load

__all__ = ["DistillResult", "Student", "distill", "load_student"]
"""``api`` and the docs name these here, and students saved before the split unpickle as
``llmlabel.commands.distill.Student``."""


def distill(
    predictions: str | Path,
    input: str | Path,
    gold: str | Path,
    report: str | Path,
    *,
    task: str | Path | None = None,
    fields: Sequence[str] | None = None,
    min_confidence: float | None = None,
    embedder: EmbedderName = "auto",
    folds: int = 5,
    seed: int = 0,
    save: str | Path | None = None,
) -> DistillResult:
    """Train the student on the silver labels of ``predictions`` (at least ``min_confidence``),
    score it on ``gold`` and write the report folder ``report`` (``report.md``,
    ``summary.json``, ``plots/``); ``save`` pickles the student (joblib)."""
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise ConfigError(f"--min-confidence must lie in [0, 1] (got {min_confidence})")
    if folds < 2:
        raise ConfigError(f"--folds must be at least 2 (got {folds})")
    reads = {"PREDICTIONS": predictions, "--input": input, "--gold": gold, "--task": task}
    check_apart({"--save": save, **report_writes(report, ("summary.json", "report.md"))}, reads)
    plots.require()
    _sklearn()
    prepared = load(task) if task is not None else None
    fields = list(fields or (prepared.spec.fields if prepared else ["text"]))
    id_field = prepared.spec.id_field if prepared else "id"
    read = read_predictions(predictions, prepared)
    labeled = {c.id: c for c in read.candidates if c.labeled}
    gold_rows = _gold_rows(gold)
    texts = _texts(input, id_field, fields, labeled, gold_rows)
    gold_labels, gold_texts = _gold(gold_rows, fields, texts)
    silver_labels = {i: str(c.label) for i, c in labeled.items()}
    confidence = {i: c.confidence for i, c in labeled.items()}
    kept = [i for i in labeled if min_confidence is None or confidence[i] >= min_confidence]
    if not kept:
        raise InputError(
            "no silver record to train on"
            + (f" at confidence >= {min_confidence:g}" if min_confidence is not None else ""),
            where=str(predictions),
            hint="lower --min-confidence, or label more records",
        )
    cross = plan.folds(gold_texts, {i: texts[i] for i in labeled}, folds, seed)
    vectors = Vectors(embedder, [texts[i] for i in labeled], list(labeled))
    gold_ids = list(gold_labels)
    gold_vectors = vectors.embed([gold_texts[i] for i in gold_ids])
    row = {i: n for n, i in enumerate(gold_ids)}

    def score(train: Sequence[str]) -> list[Outcome]:
        outcomes = []
        for fold in cross:
            used = [i for i in train if i not in fold.excluded]
            rows = [row[i] for i in fold.gold]
            predicted = fit_predict(vectors, used, silver_labels, gold_vectors[rows])
            outcomes += [
                Outcome(i, gold_labels[i], p, 1.0, "labeled" if p else "abstained")
                for i, p in zip(fold.gold, predicted, strict=True)
            ]
        return outcomes

    main = score(kept)
    intervals = bootstrap(main, {"accuracy": accuracy, "macro_f1": macro_f1}, seed=seed)
    size_curve = curve_by_size(score, kept, seed)
    threshold_curve = curve_by_threshold(score, list(labeled), confidence, seed)
    teacher = _teacher(silver_labels, read.candidates, gold_labels)
    saved = save_student(save, vectors, kept, silver_labels, fields) if save is not None else None
    notes = []
    if len(cross) > 1:
        notes.append(
            f"the gold records are silver records too: cross-fitted over {len(cross)} folds, "
            "each gold record scored by a student that did not train on it"
        )
    result = DistillResult(
        report=Path(report),
        accuracy=intervals["accuracy"],
        macro_f1=intervals["macro_f1"],
        gold=len(gold_ids),
        silver=len(kept),
        teacher_accuracy=teacher,
        embedder=vectors.embedder.model,
        folds=len(cross),
        size_curve=size_curve,
        threshold_curve=threshold_curve,
        saved=saved,
        notes=notes,
    )
    try:
        write_report(result, predictions, gold, min_confidence)
    except OSError as exc:
        raise OutputError(
            f"cannot write the report: {exc.strerror or exc}",
            where=str(report),
            hint="choose another --report folder",
        ) from None
    return result


def _teacher(
    silver: Mapping[str, str], candidates: Sequence[Any], gold: Mapping[str, str]
) -> float | None:
    """Accuracy of the predictions on the gold records they cover (unlabeled ones wrong)."""
    covered = [c for c in candidates if c.id in gold]
    if not covered:
        return None
    return sum(silver.get(c.id) == gold[c.id] for c in covered) / len(covered)


def _gold_rows(path: str | Path) -> list[InputRecord]:
    rows = list(read_records(path))
    if not rows:
        raise InputError("no gold records", where=str(path))
    return rows


def _texts(
    input: str | Path,
    id_field: str,
    fields: Sequence[str],
    labeled: Mapping[str, Any],
    gold: Sequence[InputRecord],
) -> dict[str, str]:
    """The texts of the labeled records and of the gold records without their own fields."""
    wanted = set(labeled) | {r.id for r in gold if not all(f in r.data for f in fields)}
    texts: dict[str, str] = {}
    for record in read_records(input, id_field=id_field, keep_bad=True):
        if record.error is None and record.id in wanted and record.id not in texts:
            texts[record.id] = _checked_text(record.data, fields, record.where, record.id)
    missing = [i for i in labeled if i not in texts]
    if missing:
        raise InputError(
            f"prediction '{missing[0]}' has no record in {input} "
            f"({len(missing)} of {len(labeled)} missing)",
            where=str(input),
            hint="pass the input file that was labeled with --input",
        )
    return texts


def _gold(
    gold: Sequence[InputRecord], fields: Sequence[str], texts: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Gold labels and texts by id: the text from the gold row's fields, else from the input
    record of the same id."""
    labels: dict[str, str] = {}
    gold_texts: dict[str, str] = {}
    for record in gold:
        label = record.data.get("label")
        if not isinstance(label, str) or not label:
            raise InputError(
                f"gold record '{record.id}' has no string 'label'",
                where=record.where,
                hint='gold rows look like {"id": ..., "text": ..., "label": ...}',
            )
        if record.id in labels:
            raise InputError(f"gold id '{record.id}' appears twice", where=record.where)
        if all(f in record.data for f in fields):
            text = _checked_text(record.data, fields, record.where, record.id)
        elif record.id in texts:
            text = texts[record.id]
        else:
            raise InputError(
                f"gold record '{record.id}' has no '{fields[0]}' and no record in --input",
                where=record.where,
                hint="gold rows need the task's fields, or ids of records in --input",
            )
        labels[record.id] = label
        gold_texts[record.id] = text
    return labels, gold_texts


def _checked_text(data: Mapping[str, Any], fields: Sequence[str], where: str, rid: str) -> str:
    missing = [f for f in fields if f not in data or data[f] in (None, "")]
    if missing:
        raise InputError(
            f"record '{rid}' has no '{missing[0]}'",
            where=where,
            hint="--field names the record fields the student reads (default: the task's)",
        )
    return text_of(data, fields)


def _sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ConfigError(
            "distill needs scikit-learn, which is not installed",
            hint='pip install "llmlabel[distill]"',
        ) from None
