"""What ``llmlabel distill`` found (``DistillResult``) and its report folder: ``report.md``,
``summary.json`` and the two learning curves in ``plots/`` (drawn by ``io.curves``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llmlabel.commands.distill_student import CurvePoint
from llmlabel.core.metrics import Interval
from llmlabel.io import curves


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


def write_report(
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
