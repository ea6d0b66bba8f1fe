"""Write an evaluation report: ``summary.json`` (every number) and ``report.md`` (for people).

The Markdown is rendered from the same ``EvalSummary`` that is dumped to JSON, so the two never
disagree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from llmlabel.core.evaluation import EvalSummary
from llmlabel.core.metrics import Interval
from llmlabel.core.reliability import Calibration, CoveragePoint
from llmlabel.errors import OutputError

MAX_CURVE_ROWS = 20
"""Coverage-accuracy rows shown in report.md (summary.json holds the whole curve)."""
BINNING_TITLES = {"equal_width": "equal-width bins", "equal_mass": "equal-mass bins"}


def write_report(summary: EvalSummary, directory: str | Path, sources: dict[str, str]) -> Path:
    """Write both files into ``directory`` (created if needed); returns the report.md path."""
    directory = Path(directory)
    data = {"sources": sources, **summary.model_dump(mode="json")}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(directory / "summary.json", json.dumps(data, indent=2, ensure_ascii=False))
        _write_atomic(directory / "report.md", render_markdown(summary, sources))
    except OSError as exc:
        raise OutputError(
            f"cannot write the report: {exc.strerror or exc}",
            where=str(directory),
            hint="choose another --report folder",
        ) from None
    return directory / "report.md"


def render_markdown(summary: EvalSummary, sources: dict[str, str]) -> str:
    parts = [
        _overview(summary, sources),
        _headline(summary),
        _per_class(summary),
        _confusion(summary),
        *(_calibration(c) for c in summary.calibration),
        _coverage(summary.coverage_curve),
    ]
    return "\n\n".join(parts) + "\n"


def _overview(s: EvalSummary, sources: dict[str, str]) -> str:
    lines = [
        "# Evaluation",
        "",
        *(f"- {name}: `{path}`" for name, path in sources.items()),
        f"- records scored: {s.records} ({s.labeled} labeled, {s.abstained} abstained, "
        f"{s.failed} failed; abstained and failed records count as wrong, with confidence 0)",
    ]
    p = s.pairing
    if p.gold_without_prediction or p.predictions_without_gold:
        lines.append(
            f"- **left out** (--allow-missing): {len(p.gold_without_prediction)} of {p.gold} "
            f"gold ids had no prediction, {len(p.predictions_without_gold)} of "
            f"{p.predictions} predictions had no gold label; summary.json lists their ids"
        )
    return "\n".join(lines)


def _headline(s: EvalSummary) -> str:
    o = s.options
    rows = [
        ("accuracy", _interval(s.accuracy)),
        ("macro-F1", _interval(s.macro_f1)),
        ("micro-F1", (_num(s.micro_f1), "")),
        *(
            (f"ECE ({o.bins} {BINNING_TITLES[c.binning]})", (_num(c.ece), ""))
            for c in s.calibration
        ),
        ("Brier score", (_num(s.brier), "")),
        ("AUROC (confidence for correct)", (_auroc(s.auroc), "")),
    ]
    table = _table(["metric", "value", "95% CI"], [[name, *cells] for name, cells in rows])
    return (
        f"## Headline\n\n{table}\n\n"
        f"Intervals: percentile bootstrap, {o.resamples} resamples of the records, seed {o.seed}."
        f"\n\n**Selective prediction:** {s.selective.sentence()}. The threshold is chosen on "
        "these same records."
    )


def _per_class(s: EvalSummary) -> str:
    rows = [
        [c.label, _num(c.precision), _num(c.recall), _num(c.f1), str(c.support), str(c.predicted)]
        for c in s.classes
    ]
    header = ["label", "precision", "recall", "F1", "support", "predicted"]
    return "## Per class\n\n" + _table(header, rows)


def _confusion(s: EvalSummary) -> str:
    m = s.confusion
    header = ["gold \\ predicted", *m.labels, "abstained", "failed"]
    rows = [
        [label, *map(str, counts), str(m.abstained[i]), str(m.failed[i])]
        for i, (label, counts) in enumerate(zip(m.labels, m.counts, strict=True))
    ]
    return "## Confusion matrix\n\nRows are gold labels, columns predictions.\n\n" + _table(
        header, rows
    )


def _calibration(c: Calibration) -> str:
    rows = [
        [
            _span(b.low, b.high),
            str(b.count),
            _num(b.confidence),
            _num(b.accuracy),
            _num(b.gap),
        ]
        for b in c.bins
    ]
    header = ["confidence", "records", "mean confidence", "accuracy", "gap"]
    title = f"## Calibration, {BINNING_TITLES[c.binning]} (ECE {_num(c.ece)})"
    return f"{title}\n\n" + _table(header, rows)


def _coverage(curve: Sequence[CoveragePoint]) -> str:
    shown = _thin(curve, MAX_CURVE_ROWS)
    rows = [
        [f"≥ {p.threshold:.3g}", str(p.kept), f"{p.coverage:.1%}", f"{p.accuracy:.1%}"]
        for p in shown
    ]
    note = "" if len(shown) == len(curve) else f" ({len(shown)} of {len(curve)} thresholds)"
    header = ["confidence", "records kept", "coverage", "accuracy"]
    return f"## Coverage and accuracy{note}\n\n" + _table(header, rows)


def _thin(points: Sequence[CoveragePoint], limit: int) -> list[CoveragePoint]:
    """At most ``limit`` points, evenly spread, always including the first and the last."""
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def _span(low: float, high: float) -> str:
    return f"{low:.3g}" if low == high else f"{low:.3g}–{high:.3g}"


def _interval(value: Interval) -> tuple[str, str]:
    return _num(value.value), f"{_num(value.low)}–{_num(value.high)}"


def _auroc(value: float | None) -> str:
    return "n/a (all right or all wrong)" if value is None else _num(value)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [_row(header), _row(["---"] * len(header))]
    lines += [_row(row) for row in rows]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
