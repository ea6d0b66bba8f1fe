"""Report plots, drawn into PNG bytes with matplotlib's Agg canvas.

matplotlib is an extra (``pip install "llmlabel[report]"``), imported only when a plot is drawn.
Figures are drawn on ``matplotlib.figure.Figure`` with an Agg canvas, never through pyplot, so
no global backend is switched and nothing opens a window. PNGs carry no timestamp: the same
numbers give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmlabel.core.evaluation import EvalSummary
from llmlabel.core.metrics import ClassScore, ConfusionMatrix, Interval
from llmlabel.core.reliability import Calibration, CoveragePoint
from llmlabel.errors import ConfigError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

DPI = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_TICK_LABEL = 18
_MAX_BAR_LABELS = 24


@dataclass(frozen=True)
class Figure:
    """A plot for a report: saved as ``plots/<name>.png``, embedded in report.html."""

    name: str
    title: str
    png: bytes


def require() -> None:
    """Fail early, before any work, when matplotlib is missing."""
    _matplotlib()


def confusion(matrix: ConfusionMatrix, title: str = "Confusion matrix") -> bytes:
    """Counts of gold (rows) against predicted (columns) as a heat map, with abstained and
    failed columns when any record has them."""
    extra = [
        (name, column)
        for name, column in (("abstained", matrix.abstained), ("failed", matrix.failed))
        if any(column)
    ]
    columns = [*matrix.labels, *(name for name, _ in extra)]
    counts = [[*row, *(column[i] for _, column in extra)] for i, row in enumerate(matrix.counts)]
    size = 2.2 + 0.55 * max(len(columns), 2)
    fig, ax = _figure(size + 1.0, size)
    image = ax.imshow(counts, cmap="Blues", vmin=0, aspect="auto")
    fig.colorbar(image, ax=ax, shrink=0.8, label="records")
    peak = max((max(r) for r in counts if r), default=0)
    for i, row in enumerate(counts):
        for j, value in enumerate(row):
            colour = "white" if peak and value > peak / 2 else "black"
            ax.text(j, i, str(value), ha="center", va="center", color=colour, fontsize=9)
    ax.set_xticks(range(len(columns)), [_short(c) for c in columns], rotation=45, ha="right")
    ax.set_yticks(range(len(matrix.labels)), [_short(c) for c in matrix.labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    return _png(fig)


def reliability(calibrations: Mapping[str, Calibration]) -> bytes:
    """Accuracy against mean confidence per bin, one line per variant; the diagonal is perfect
    calibration and a marker's area grows with its bin's records."""
    fig, ax = _figure(6.0, 5.0)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect")
    for name, calibration in calibrations.items():
        bins = calibration.bins
        x, y = [b.confidence for b in bins], [b.accuracy for b in bins]
        ece = f"ECE {calibration.ece:.3f}"
        (line,) = ax.plot(x, y, linewidth=1.5, label=f"{name} ({ece})" if name else ece)
        total = sum(b.count for b in bins) or 1
        sizes = [20 + 400 * b.count / total for b in bins]
        ax.scatter(x, y, s=sizes, color=line.get_color(), alpha=0.7, zorder=3)
    _unit_axes(ax, "mean confidence in bin", "accuracy in bin")
    ax.set_title("Reliability diagram")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def coverage(curves: Mapping[str, Sequence[CoveragePoint]], target: float | None = None) -> bytes:
    """Accuracy of the records kept against the share kept, as the confidence threshold falls."""
    fig, ax = _figure(6.0, 4.5)
    for name, points in curves.items():
        ax.plot(
            [p.coverage for p in points],
            [p.accuracy for p in points],
            marker="o",
            markersize=3,
            linewidth=1.5,
            label=name,
        )
    if target is not None:
        ax.axhline(target, linestyle=":", color="grey", linewidth=1, label=f"target {target:.0%}")
    kept = [p.coverage for points in curves.values() for p in points]
    right = [p.accuracy for points in curves.values() for p in points]
    ax.set_xlim(*_zoom([*kept, 1.0]))
    ax.set_ylim(*_zoom([*right, 1.0, *([target] if target is not None else [])]))
    ax.set_xlabel("coverage (share of records kept)")
    ax.set_ylabel("accuracy of kept records")
    ax.grid(alpha=0.3)
    ax.set_title("Coverage and accuracy")
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig)


def per_class_f1(scores: Mapping[str, Sequence[ClassScore]], title: str = "F1 per class") -> bytes:
    """Grouped bars: one group per label, one bar per variant."""
    labels = sorted({c.label for classes in scores.values() for c in classes})
    width = 0.8 / max(len(scores), 1)
    fig, ax = _figure(max(5.0, 1.2 + 0.45 * len(labels) * max(len(scores), 1)), 4.2)
    for k, (name, classes) in enumerate(scores.items()):
        f1 = {c.label: c.f1 for c in classes}
        offset = (k - (len(scores) - 1) / 2) * width
        bars = ax.bar(
            [i + offset for i in range(len(labels))],
            [f1.get(label, 0.0) for label in labels],
            width,
            label=name,
        )
        if len(labels) * len(scores) <= _MAX_BAR_LABELS:
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.set_xticks(range(len(labels)), [_short(label) for label in labels], rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if len(scores) > 1:
        ax.legend(fontsize=8, loc="lower right")
    return _png(fig)


def leaderboard(rows: Sequence[tuple[str, Mapping[str, Interval]]]) -> bytes:
    """Each variant's point estimates with their bootstrap intervals as error bars, best on
    top (``rows`` come best first); one marker per statistic."""
    statistics = list(rows[0][1]) if rows else []
    fig, ax = _figure(6.4, 1.4 + 0.5 * len(rows))
    step = 0.5 / max(len(statistics), 1)
    for k, statistic in enumerate(statistics):
        offset = (k - (len(statistics) - 1) / 2) * step
        values = [r[1][statistic] for r in rows]
        ax.errorbar(
            [v.value for v in values],
            [i + offset for i in range(len(rows))],
            xerr=[
                [v.value - v.low for v in values],
                [v.high - v.value for v in values],
            ],
            fmt="o",
            capsize=4,
            label=statistic,
        )
    ax.set_yticks(range(len(rows)), [_short(name) for name, _ in rows])
    ax.invert_yaxis()
    ax.set_xlim(*_zoom([x for _, values in rows for v in values.values() for x in (v.low, v.high)]))
    ax.set_xlabel("score (95% bootstrap interval)")
    ax.set_title("Leaderboard")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _png(fig)


def eval_figures(summary: EvalSummary) -> list[Figure]:
    """The plots of one evaluation (``llmlabel eval --report``)."""
    figures = []
    if summary.confusion is not None:
        figures.append(Figure("confusion", "Confusion matrix", confusion(summary.confusion)))
    figures += [
        Figure("reliability", "Reliability diagram", reliability({"": summary.calibration[0]})),
        Figure(
            "coverage",
            "Coverage and accuracy",
            coverage({"": summary.coverage_curve}, summary.options.target_accuracy),
        ),
        Figure("per_class_f1", "F1 per class", per_class_f1({"": summary.classes})),
    ]
    return figures


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's header."""
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(
            "report plots need matplotlib, which is not installed",
            hint='pip install "llmlabel[report]"',
        ) from None
    return matplotlib


def _figure(width: float, height: float) -> tuple[MplFigure, Axes]:
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: MplFigure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _unit_axes(ax: Axes, xlabel: str, ylabel: str) -> None:
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _zoom(values: Sequence[float]) -> tuple[float, float]:
    """Axis limits around ``values`` within [0, 1], so close scores stay apart."""
    low, high = min(values, default=0.0), max(values, default=1.0)
    pad = max(0.1 * (high - low), 0.02)
    return max(low - pad, -0.02), min(high + pad, 1.02)


def _short(text: str) -> str:
    return text if len(text) <= _MAX_TICK_LABEL else text[: _MAX_TICK_LABEL - 1] + "…"
