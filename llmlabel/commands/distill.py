"""Distill a silver set into a small student classifier and measure it on gold.

The student is sentence embeddings (``select.embed``: MiniLM when the ``embeddings`` extra is
installed, else TF-IDF fitted on the silver texts) + scikit-learn's logistic regression. Reads
the predictions (as ``export`` does), joins their records from ``input`` by id, scores the
student on gold (cross-fitted when the gold records are silver ones too, see
``core.distill``) and writes a report: the student's gold accuracy and macro-F1 with bootstrap
intervals, and two learning curves — accuracy against the number of silver records, and
against the confidence threshold beside a random subset of the same size (the evidence that
filtering by confidence is worth it). ``api.distill`` is ``distill`` here.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmlabel.core import distill as plan
from llmlabel.core.metrics import Interval, Outcome, accuracy, bootstrap, macro_f1
from llmlabel.errors import ConfigError, InputError, OutputError
from llmlabel.io import curves, plots
from llmlabel.io.paths import check_apart, report_writes
from llmlabel.io.predictions import read_predictions
from llmlabel.io.readers import InputRecord, read_records
from llmlabel.models import cache_dir
from llmlabel.select.embed import Embedder, EmbedderName, Matrix, cached_embeddings, make_embedder
from llmlabel.task import load

REPEATS = 3
"""Seeded draws averaged per point of the curves that subsample the silver set."""


@dataclass(frozen=True)
class CurvePoint:
    x: float
    records: int
    """Silver records trained on."""
    accuracy: float
    low: float
    high: float
    random_same_size: float | None = None
    """Threshold curve: the mean accuracy of students on random silver of the same size."""


@dataclass(frozen=True)
class DistillResult:
    report: Path
    accuracy: Interval
    macro_f1: Interval
    gold: int
    silver: int
    """Silver records the student is trained on (after --min-confidence)."""
    teacher_accuracy: float | None
    """The labels' own accuracy on the gold records that were labeled, if any."""
    embedder: str
    folds: int
    size_curve: list[CurvePoint]
    threshold_curve: list[CurvePoint]
    saved: Path | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Student:
    """A trained student: ``predict`` takes records (dicts with the task's fields)."""

    embedder: Embedder
    model: Any
    fields: list[str]

    def predict(self, records: Sequence[Mapping[str, Any]]) -> list[str]:
        vectors = self.embedder.embed([_text(r, self.fields) for r in records])
        return [str(label) for label in self.model.predict(vectors)]


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
    vectors = _Vectors(embedder, [texts[i] for i in labeled], list(labeled))
    gold_ids = list(gold_labels)
    gold_vectors = vectors.embed([gold_texts[i] for i in gold_ids])
    row = {i: n for n, i in enumerate(gold_ids)}

    def score(train: Sequence[str]) -> list[Outcome]:
        outcomes = []
        for fold in cross:
            used = [i for i in train if i not in fold.excluded]
            rows = [row[i] for i in fold.gold]
            predicted = _fit_predict(vectors, used, silver_labels, gold_vectors[rows])
            outcomes += [
                Outcome(i, gold_labels[i], p, 1.0, "labeled" if p else "abstained")
                for i, p in zip(fold.gold, predicted, strict=True)
            ]
        return outcomes

    main = score(kept)
    intervals = bootstrap(main, {"accuracy": accuracy, "macro_f1": macro_f1}, seed=seed)
    size_curve = _size_curve(score, kept, seed)
    threshold_curve = _threshold_curve(score, list(labeled), confidence, seed)
    teacher = _teacher(silver_labels, read.candidates, gold_labels)
    saved = _save(save, vectors, kept, silver_labels, fields) if save is not None else None
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
        _write_report(result, predictions, gold, min_confidence)
    except OSError as exc:
        raise OutputError(
            f"cannot write the report: {exc.strerror or exc}",
            where=str(report),
            hint="choose another --report folder",
        ) from None
    return result


class _Vectors:
    """Silver embeddings by id; the embedder is fitted on (TF-IDF) or ignores the silver texts."""

    def __init__(self, name: EmbedderName, texts: list[str], ids: list[str]) -> None:
        self.embedder = make_embedder(name, texts)
        self.matrix = self.embed(texts)
        self.index = {i: n for n, i in enumerate(ids)}

    def embed(self, texts: Sequence[str]) -> Matrix:
        if self.embedder.name == "minilm":
            return cached_embeddings(self.embedder, texts, cache_dir() / "embeddings")
        return self.embedder.embed(texts)

    def rows(self, ids: Sequence[str]) -> Matrix:
        return self.matrix[[self.index[i] for i in ids]]


def _fit(vectors: _Vectors, ids: Sequence[str], labels: Mapping[str, str]) -> Any:
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    y = [labels[i] for i in ids]
    model = LogisticRegression(max_iter=1000) if len(set(y)) > 1 else DummyClassifier()
    return model.fit(vectors.rows(ids), y)


def _fit_predict(
    vectors: _Vectors, ids: Sequence[str], labels: Mapping[str, str], gold: Matrix
) -> list[str | None]:
    """The student's labels for ``gold`` rows; ``None`` for each when it has nothing to learn
    from (every silver record excluded)."""
    if not ids:
        return [None] * len(gold)
    return [str(p) for p in _fit(vectors, ids, labels).predict(gold)]


Score = Any  # Callable[[Sequence[str]], list[Outcome]], kept loose for the nested closure


def _size_curve(score: Score, kept: Sequence[str], seed: int) -> list[CurvePoint]:
    points = []
    for size in plan.sizes(len(kept)):
        draws = 1 if size == len(kept) else REPEATS
        accuracies = [
            accuracy(score(plan.subsample(kept, size, seed, f"size{size}:{r}")))
            for r in range(draws)
        ]
        points.append(
            CurvePoint(size, size, statistics.fmean(accuracies), min(accuracies), max(accuracies))
        )
    return points


def _threshold_curve(
    score: Score, labeled: Sequence[str], confidence: Mapping[str, float], seed: int
) -> list[CurvePoint]:
    points: list[CurvePoint] = []
    for threshold in plan.thresholds([confidence[i] for i in labeled]):
        kept = [i for i in labeled if confidence[i] >= threshold]
        if points and points[-1].records == len(kept):
            continue  # the same silver set as the lower threshold
        filtered = accuracy(score(kept))
        draws = [
            accuracy(score(plan.subsample(labeled, len(kept), seed, f"t{threshold}:{r}")))
            for r in range(1 if len(kept) == len(labeled) else REPEATS)
        ]
        points.append(
            CurvePoint(threshold, len(kept), filtered, filtered, filtered, statistics.fmean(draws))
        )
    return points


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
    return _text(data, fields)


def _text(data: Mapping[str, Any], fields: Sequence[str]) -> str:
    values = (data[f] if isinstance(data[f], str) else json.dumps(data[f]) for f in fields)
    return "\n".join(values)


def _save(
    path: str | Path,
    vectors: _Vectors,
    ids: Sequence[str],
    labels: Mapping[str, str],
    fields: Sequence[str],
) -> Path:
    import joblib

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    student = Student(vectors.embedder, _fit(vectors, ids, labels), list(fields))
    joblib.dump(student, target)
    return target


def load_student(path: str | Path) -> Student:
    """A student written by ``distill(..., save=path)``; unpickling runs code: load only files
    you trust."""
    import joblib

    student = joblib.load(path)
    if not isinstance(student, Student):
        raise InputError("not a student saved by llmlabel distill", where=str(path))
    return student


def _sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ConfigError(
            "distill needs scikit-learn, which is not installed",
            hint='pip install "llmlabel[distill]"',
        ) from None


def _write_report(
    result: DistillResult, predictions: str | Path, gold: str | Path, min_conf: float | None
) -> None:
    folder = result.report
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    size, by_threshold = result.size_curve, result.threshold_curve
    (folder / "plots" / "size_curve.png").write_bytes(
        curves.size_curve(
            [p.records for p in size],
            [p.accuracy for p in size],
            [p.low for p in size],
            [p.high for p in size],
            result.teacher_accuracy,
        )
    )
    (folder / "plots" / "threshold_curve.png").write_bytes(
        curves.threshold_curve(
            [p.x for p in by_threshold],
            [p.accuracy for p in by_threshold],
            [p.random_same_size or 0.0 for p in by_threshold],
            [p.records for p in by_threshold],
        )
    )
    summary = {k: v for k, v in asdict(result).items() if k not in ("report", "saved")}
    summary.update(
        accuracy=result.accuracy.model_dump(),
        macro_f1=result.macro_f1.model_dump(),
        predictions=str(predictions),
        gold=str(gold),
        min_confidence=min_conf,
        saved=str(result.saved) if result.saved else None,
    )
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (folder / "report.md").write_text(
        _markdown(result, predictions, gold, min_conf), encoding="utf-8"
    )


def _markdown(
    result: DistillResult, predictions: str | Path, gold: str | Path, min_conf: float | None
) -> str:
    a, f = result.accuracy, result.macro_f1
    teacher = f"{result.teacher_accuracy:.3f}" if result.teacher_accuracy is not None else "—"
    lines = [
        "# Student distilled from silver labels",
        "",
        f"Silver: `{predictions}` ({result.silver} records"
        + (f" at confidence ≥ {min_conf:g}" if min_conf is not None else "")
        + f"); gold: `{gold}` ({result.gold} records). Student: {result.embedder} embeddings + "
        "logistic regression.",
        "",
        "| student on gold | value (95% bootstrap CI) |",
        "|---|---|",
        f"| accuracy | {a.value:.3f} ({a.low:.3f}–{a.high:.3f}) |",
        f"| macro-F1 | {f.value:.3f} ({f.low:.3f}–{f.high:.3f}) |",
        f"| teacher (silver labels) on the gold records it labeled | {teacher} |",
        "",
        "## Accuracy vs silver records",
        "",
        "| silver records | accuracy (mean of draws) | min | max |",
        "|---|---|---|---|",
        *(
            f"| {p.records} | {p.accuracy:.3f} | {p.low:.3f} | {p.high:.3f} |"
            for p in result.size_curve
        ),
        "",
        "![size curve](plots/size_curve.png)",
        "",
        "## Accuracy vs confidence threshold",
        "",
        "| threshold | silver kept | accuracy | random silver of the same size |",
        "|---|---|---|---|",
        *(
            f"| {p.x:.3g} | {p.records} | {p.accuracy:.3f} | {p.random_same_size or 0:.3f} |"
            for p in result.threshold_curve
        ),
        "",
        "![threshold curve](plots/threshold_curve.png)",
        "",
        *(f"Note: {n}" for n in result.notes),
    ]
    return "\n".join(lines) + "\n"
