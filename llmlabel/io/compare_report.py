"""Write a comparison report: summary.json, report.md, a self-contained report.html, the plots
and each variant's predictions (``predictions/<variant>.jsonl``, scorable by ``llmlabel eval``).

Everything is rendered from one ``Comparison``, so the JSON, Markdown and HTML agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llmlabel.core.comparison import Comparison, PairResult, VariantResult
from llmlabel.core.evaluation import scoring
from llmlabel.core.metrics import Interval
from llmlabel.core.significance import PairedDelta
from llmlabel.io import plots
from llmlabel.io.plots import Figure
from llmlabel.io.report import _num, _table, figure_markdown, write_folder

MAX_IDS = 100
"""Flipped ids listed per direction in report.md (summary.json lists all)."""


def write_compare_report(
    comparison: Comparison,
    directory: str | Path,
    sources: dict[str, str],
    sample: dict[str, Any],
    predictions: Mapping[str, Sequence[dict[str, Any]]],
) -> Path:
    """Write the report folder; returns the report.md path."""
    figures = compare_figures(comparison)
    data = {"sources": sources, "sample": sample, **comparison.model_dump(mode="json")}
    extra = {
        f"predictions/{name}.jsonl": "".join(
            json.dumps(row, ensure_ascii=False) + "\n" for row in rows
        )
        for name, rows in predictions.items()
    }
    markdown = render_markdown(comparison, sources, sample, figures)
    return write_folder(directory, data, markdown, figures, title="Comparison", extra=extra)


def compare_figures(c: Comparison) -> list[Figure]:
    shown = dict(list(_metric_titles(c).items())[:1])  # accuracy and the kind's first metric
    board = [(v.name, _intervals(v, shown)) for v in c.leaderboard()]
    figures = [
        Figure("leaderboard", "Leaderboard", plots.leaderboard(board)),
        Figure(
            "per_class_f1",
            "F1 per class",
            plots.per_class_f1({v.name: v.summary.classes for v in c.variants}),
        ),
        Figure(
            "reliability",
            "Reliability diagram",
            plots.reliability({v.name: v.summary.calibration[0] for v in c.variants}),
        ),
        Figure(
            "coverage",
            "Coverage and accuracy",
            plots.coverage(
                {v.name: v.summary.coverage_curve for v in c.variants},
                c.options.target_accuracy,
            ),
        ),
    ]
    for v in c.variants:
        if v.summary.confusion is not None:
            title = f"Confusion matrix: {v.name}"
            figures.append(
                Figure(f"confusion-{v.name}", title, plots.confusion(v.summary.confusion, title))
            )
    return figures


def render_markdown(
    c: Comparison, sources: dict[str, str], sample: dict[str, Any], figures: Sequence[Figure]
) -> str:
    by_name = {f.name: f for f in figures}
    parts = [
        _overview(c, sources, sample),
        _leaderboard(c),
        figure_markdown(by_name["leaderboard"]),
        _significance(c),
        _per_class(c),
        figure_markdown(by_name["per_class_f1"]),
        *(_pair(c, pair) for pair in c.pairs),
        _calibration(c),
        figure_markdown(by_name["reliability"]),
        figure_markdown(by_name["coverage"]),
    ]
    confusions = [figure_markdown(f) for f in figures if f.name.startswith("confusion-")]
    if confusions:
        parts += [
            "## Confusion matrices\n\nRows are gold labels, columns predictions.",
            *confusions,
        ]
    return "\n\n".join(parts) + "\n"


def _overview(c: Comparison, sources: dict[str, str], sample: dict[str, Any]) -> str:
    if sample.get("limit") is not None and sample["limit"] < sample["total"]:
        drawn = f"a seeded sample (seed {sample['seed']}) of {c.records} of {sample['total']}"
    else:
        drawn = f"all {c.records}"
    lines = [
        "# Comparison",
        "",
        *(f"- {name}: `{path}`" for name, path in sources.items()),
        f"- task kind: {c.kind}",
        f"- records: {drawn} gold records, the same for every variant; abstained and failed "
        "records count as wrong",
        "- variants (task keys each one sets; `predictions/<variant>.jsonl` holds its rows):",
        *(f"  - **{v.name}**: {_overrides(v.overrides)}" for v in c.variants),
    ]
    return "\n".join(lines)


def _leaderboard(c: Comparison) -> str:
    metrics = _metric_titles(c)
    header = ["rank", "variant", "accuracy", *metrics.values(), "abstained / failed"]
    header += ["ECE", "prompt tokens", "seconds"]
    rows = []
    for rank, v in enumerate(c.leaderboard(), start=1):
        s = v.summary
        rows.append(
            [
                str(rank),
                v.name,
                _with_ci(s.accuracy.value, s.accuracy.low, s.accuracy.high),
                *(_with_ci(m.value, m.low, m.high) for m in (s.metrics[n] for n in metrics)),
                f"{s.abstained} / {s.failed}",
                _num(s.calibration[0].ece),
                f"{v.cost.prompt_tokens:,}",
                f"{v.cost.seconds:.1f}",
            ]
        )
    o = c.options
    return (
        "## Leaderboard\n\n"
        + _table(header, rows)
        + f"\n\nValues with 95% percentile bootstrap intervals ({o.resamples} resamples, seed "
        f"{o.seed}). Seconds include loading the model; answers from the request cache cost "
        "almost none."
    )


def _significance(c: Comparison) -> str:
    m = len(c.pairs)
    note = (
        f"Each row tests B against A on the same {c.records} records (Δ is B − A). McNemar's "
        "exact test uses only the records that flipped; the paired bootstrap resamples records "
        "keeping both variants' answers together. p-values are Holm-adjusted over the "
        f"{m} pair{'s' if m != 1 else ''}, separately for each test and statistic; "
        f"**significant** means adjusted p < {c.alpha:g}. The verdict is McNemar's on accuracy: "
        "on few records the bootstrap's p-values run small, the exact test's do not."
    )
    header = ["A", "B", "Δ accuracy (95% CI)", "bootstrap p (Holm)"]
    header += ["right→wrong / wrong→right", "McNemar p (Holm)", "verdict"]
    rows = []
    for pair in c.pairs:
        d = pair.delta("accuracy")
        rows.append(
            [
                pair.a,
                pair.b,
                _delta(d),
                _p(d.p_value, d.p_adjusted),
                f"{len(pair.right_to_wrong)} / {len(pair.wrong_to_right)}",
                _p(pair.mcnemar.p_value, pair.mcnemar.p_adjusted),
                _verdict(c, pair),
            ]
        )
    parts = ["## Paired significance", note, _table(header, rows)]
    metrics = _metric_titles(c)
    if metrics:
        header = ["A", "B", *(f"Δ {title} (95% CI), p (Holm)" for title in metrics.values())]
        rows = [
            [
                p.a,
                p.b,
                *(
                    f"{_delta(p.delta(n))}, {_p(p.delta(n).p_value, p.delta(n).p_adjusted)}"
                    for n in metrics
                ),
            ]
            for p in c.pairs
        ]
        parts += ["Other metrics, paired bootstrap:", _table(header, rows)]
    return "\n\n".join(parts)


def _per_class(c: Comparison) -> str:
    labels = sorted({cls.label for v in c.variants for cls in v.summary.classes})
    f1 = {v.name: {cls.label: cls for cls in v.summary.classes} for v in c.variants}
    rows = [
        [
            label,
            *(_num(f1[v.name][label].f1) if label in f1[v.name] else "—" for v in c.variants),
            str(next((f1[v.name][label].support for v in c.variants if label in f1[v.name]), 0)),
        ]
        for label in labels
    ]
    header = ["label", *(f"F1 {v.name}" for v in c.variants), "support"]
    return f"## F1 {scoring(c.kind).per_class_title.lower()}\n\n" + _table(header, rows)


def _pair(c: Comparison, pair: PairResult) -> str:
    rows = [[d.label, _num(d.a), _num(d.b), _signed(d.delta)] for d in pair.classes]
    header = ["label", f"F1 {pair.a}", f"F1 {pair.b}", "Δ F1"]
    d = pair.delta("accuracy")
    lines = [
        f"## {pair.b} vs {pair.a}",
        "",
        f"Accuracy {_num(d.a)} → {_num(d.b)}: Δ {_signed(d.delta)}, 95% CI {_signed(d.low)} "
        f"to {_signed(d.high)}; McNemar p {_p(pair.mcnemar.p_value, pair.mcnemar.p_adjusted)}: "
        f"{_verdict(c, pair)}.",
        "",
        _table(header, rows),
        "",
        f"- right → wrong ({len(pair.right_to_wrong)}): {_ids(pair.right_to_wrong)}",
        f"- wrong → right ({len(pair.wrong_to_right)}): {_ids(pair.wrong_to_right)}",
    ]
    return "\n".join(lines)


def _calibration(c: Comparison) -> str:
    header = ["variant", "ECE (equal width)", "ECE (equal mass)", "Brier", "AUROC"]
    header.append("selective prediction")
    rows = [
        [
            v.name,
            *(_num(cal.ece) for cal in v.summary.calibration),
            _num(v.summary.brier),
            _num(v.summary.auroc),
            v.summary.selective.sentence(),
        ]
        for v in c.variants
    ]
    return (
        f"## Calibration and coverage\n\n{_table(header, rows)}\n\nECE over "
        f"{c.options.bins} bins; the reliability diagram uses the equal-width bins."
    )


def _verdict(c: Comparison, pair: PairResult) -> str:
    gained, lost = len(pair.wrong_to_right), len(pair.right_to_wrong)
    if not c.significant(pair.mcnemar.p_adjusted) or gained == lost:
        return "no significant difference"
    better, worse = (pair.b, pair.a) if gained > lost else (pair.a, pair.b)
    return f"**{better}** is significantly more accurate than {worse}"


def _metric_titles(c: Comparison) -> dict[str, str]:
    titles = {m.name: m.title for m in scoring(c.kind).metrics}
    return {name: titles.get(name, name) for name in c.statistics if name != "accuracy"}


def _intervals(v: VariantResult, titles: Mapping[str, str]) -> dict[str, Interval]:
    """By title: accuracy and the metrics named in ``titles``."""
    shown = {title: v.summary.metrics[name] for name, title in titles.items()}
    return {"accuracy": v.summary.accuracy, **shown}


def _with_ci(value: float, low: float, high: float) -> str:
    return f"{value:.3f} ({low:.3f}–{high:.3f})"


def _delta(d: PairedDelta) -> str:
    return f"{_signed(d.delta)} ({_signed(d.low)} to {_signed(d.high)})"


def _signed(value: float) -> str:
    return f"{0.0 if abs(value) < 5e-4 else value:+.3f}"  # no "-0.000"


def _p(raw: float, adjusted: float | None) -> str:
    shown = f"{raw:.3g}"
    return shown if adjusted is None else f"{shown} ({adjusted:.3g})"


def _ids(ids: Sequence[str]) -> str:
    if not ids:
        return "none"
    shown = ", ".join(f"`{i}`" for i in ids[:MAX_IDS])
    more = len(ids) - MAX_IDS
    return shown + (f", … and {more} more (summary.json lists all)" if more > 0 else "")


def _overrides(keys: Mapping[str, Any]) -> str:
    return ", ".join(f"`{k}={json.dumps(v)}`" for k, v in keys.items()) or "nothing (the base task)"
