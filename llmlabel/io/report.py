"""Write an evaluation report: ``summary.json`` (every number), ``report.md`` and a
self-contained ``report.html`` (for people), and the plots as ``plots/*.png``.

The Markdown is rendered from the same ``EvalSummary`` that is dumped to JSON, so the two never
disagree; the HTML is that Markdown rendered, with the plots embedded as base64 PNGs.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmlabel.core.evaluation import EvalSummary, scoring
from llmlabel.core.metrics import Interval
from llmlabel.core.reliability import Calibration, CoveragePoint
from llmlabel.core.runcost import RunCost
from llmlabel.errors import OutputError
from llmlabel.io import plots
from llmlabel.io.plots import Figure

MAX_CURVE_ROWS = 20
"""Coverage-accuracy rows shown in report.md (summary.json holds the whole curve)."""
BINNING_TITLES = {"equal_width": "equal-width bins", "equal_mass": "equal-mass bins"}


def write_report(summary: EvalSummary, directory: str | Path, sources: dict[str, str]) -> Path:
    """Write the report into ``directory`` (created if needed); returns the report.md path.

    The plots need matplotlib (``llmlabel[report]``): without it this fails before writing.
    """
    plots.require()
    figures = plots.eval_figures(summary)
    data = {"sources": sources, **summary.model_dump(mode="json")}
    markdown = render_markdown(summary, sources, figures)
    return write_folder(directory, data, markdown, figures, title="Evaluation")


def write_folder(
    directory: str | Path,
    data: dict[str, Any],
    markdown: str,
    figures: Sequence[Figure],
    title: str,
    extra: dict[str, str] | None = None,
) -> Path:
    """summary.json, report.md, report.html, ``plots/<name>.png`` and ``extra`` files (relative
    path → text), each written atomically; returns the report.md path."""
    directory = Path(directory)
    try:
        (directory / "plots").mkdir(parents=True, exist_ok=True)
        for figure in figures:
            _write_atomic(directory / "plots" / f"{figure.name}.png", figure.png)
        for name, text in (extra or {}).items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(directory / name, text)
        _write_atomic(directory / "summary.json", json.dumps(data, indent=2, ensure_ascii=False))
        _write_atomic(directory / "report.md", markdown)
        _write_atomic(directory / "report.html", render_html(markdown, figures, title))
    except OSError as exc:
        raise OutputError(
            f"cannot write the report: {exc.strerror or exc}",
            where=str(directory),
            hint="choose another --report folder",
        ) from None
    return directory / "report.md"


def figure_markdown(figure: Figure) -> str:
    """The Markdown image of a plot, by its path in the report folder."""
    return f"![{figure.title}](plots/{figure.name}.png)"


def render_html(markdown: str, figures: Sequence[Figure], title: str) -> str:
    """One self-contained HTML page: the Markdown rendered, each plot inlined as base64."""
    from markdown_it import MarkdownIt

    for figure in figures:
        data = base64.b64encode(figure.png).decode("ascii")
        markdown = markdown.replace(
            f"](plots/{figure.name}.png)", f"](data:image/png;base64,{data})"
        )
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
    "line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}"
    "img{max-width:100%;display:block;margin:1em 0}code{background:#f3f3f3;padding:0 .2em}"
)


def render_markdown(
    summary: EvalSummary, sources: dict[str, str], figures: Sequence[Figure] = ()
) -> str:
    parts = [
        _overview(summary, sources),
        _headline(summary),
        *(["## Plots\n\n" + "\n\n".join(map(figure_markdown, figures))] if figures else []),
        _per_class(summary),
        *([_confusion(summary)] if summary.confusion is not None else []),
        *(_calibration(c) for c in summary.calibration),
        _coverage(summary.coverage_curve),
        *([_cost(summary.cost)] if summary.cost is not None else []),
        *([_wrong(summary)] if summary.wrong else []),
    ]
    return "\n\n".join(parts) + "\n"


TEXT_CHARS = 240
"""A wrong record's text is cut to this many characters in the report (summary.json has it
whole)."""


def _wrong(s: EvalSummary) -> str:
    rows = [
        [
            w.id,
            w.gold,
            w.predicted if w.predicted is not None else f"({w.status})",
            f"{w.confidence:.3f}",
            _cut(" ".join(w.text.split())),
        ]
        for w in s.wrong
    ]
    return (
        f"## Wrong records\n\nThe {len(s.wrong)} shown: the most frequent confusions first, "
        "the most confident of each first (those a confidence threshold keeps).\n\n"
        + _table(["id", "gold", "predicted", "confidence", "text"], rows)
    )


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def _overview(s: EvalSummary, sources: dict[str, str]) -> str:
    lines = [
        "# Evaluation",
        "",
        *(f"- {name}: `{path}`" for name, path in sources.items()),
        f"- task kind: {s.kind}",
        f"- records scored: {s.records} ({s.labeled} labeled, {s.abstained} abstained, "
        f"{s.failed} failed{f', {s.skipped} skipped' if s.skipped else ''}; abstained, failed "
        "and skipped records count as wrong, with confidence 0)",
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
        (accuracy_title(s.kind), _interval(s.accuracy)),
        *((title, _interval(s.metrics[name])) for name, title in metric_titles(s.kind)),
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
    return f"## {scoring(s.kind).per_class_title}\n\n" + _table(header, rows)


def cost_sentence(cost: RunCost) -> str:
    """One line: requests, tokens, time, throughput and the USD estimate if priced."""
    rate = cost.records_per_s
    parts = [
        f"{cost.records} records",
        f"{cost.requests} requests ({cost.cache_hits} from the cache)",
        f"{cost.prompt_tokens:,} prompt + {cost.completion_tokens:,} completion tokens",
        f"{cost.seconds:.1f} s" + (f" ({rate:.2f} records/s)" if rate is not None else ""),
    ]
    if cost.usd is not None:
        parts.append(f"about ${cost.usd:.4f} at the prices given")
    line = ", ".join(parts)
    return line + (" — the last resumed part of the run only" if cost.resumed else "")


def _cost(cost: RunCost) -> str:
    return (
        "## Cost and time\n\n"
        f"From the run's manifest: {cost_sentence(cost)}. Requests answered from the cache "
        "cost no model time, so a rerun is faster and cheaper than the first run."
    )


def accuracy_title(kind: str) -> str:
    """Record-level accuracy is exact match of the whole answer for set-valued kinds."""
    return "accuracy" if scoring(kind).confusion else "accuracy (exact match)"


def metric_titles(kind: str) -> list[tuple[str, str]]:
    """(name, title) of the kind's corpus metrics, in report order."""
    return [(m.name, m.title) for m in scoring(kind).metrics]


def _confusion(s: EvalSummary) -> str:
    m = s.confusion
    assert m is not None
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


def _write_atomic(path: Path, content: str | bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(content, bytes):
        tmp.write_bytes(content)
    else:
        tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)
