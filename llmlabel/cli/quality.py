"""Measuring labels against gold: ``eval``, ``compare``, ``tune``, ``calibrate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table

from llmlabel import api
from llmlabel.cli.app import Opt, app, comma_list, err, out
from llmlabel.io.report import accuracy_title, cost_sentence, metric_titles


@app.command("eval")
def eval_(
    predictions: Annotated[Path, typer.Argument(help="Output JSONL of `llmlabel run`.")],
    gold: Annotated[str, Opt("--gold", "-g", help="Gold rows {id, label}: JSONL/CSV/Parquet.")],
    report: Annotated[
        Path | None, Opt(help="Folder for report.md/.html, summary.json and plots.")
    ] = None,
    target_accuracy: Annotated[
        float, Opt(min=0.0, max=1.0, help="Accuracy the kept records must reach.")
    ] = 0.95,
    allow_missing: Annotated[
        bool, Opt(help="Score only ids in both files (the counts left out are reported).")
    ] = False,
    bins: Annotated[int, Opt(min=1, help="Calibration bins.")] = 10,
    resamples: Annotated[int, Opt(min=1, help="Bootstrap resamples for the CIs.")] = 1000,
    seed: Annotated[int, Opt(help="Bootstrap seed.")] = 0,
    kind: Annotated[str | None, Opt(help="Task kind (default: the rows' provenance.kind).")] = None,
    calibration: Annotated[
        Path | None, Opt(help="calib.json: ECE before/after on the records it did not see.")
    ] = None,
    price_input: Annotated[
        float | None, Opt(min=0.0, help="USD per million prompt tokens, for a cost estimate.")
    ] = None,
    price_output: Annotated[
        float | None, Opt(min=0.0, help="USD per million completion tokens.")
    ] = None,
    input: Annotated[
        str | None,
        Opt(
            "--input",
            "-i",
            help="The labeled input: wrong records with their text in the "
            "report (default: the manifest's input, where it exists).",
        ),
    ] = None,
) -> None:
    """Score PREDICTIONS against gold labels: accuracy with CIs, F1, calibration, coverage."""
    result = api.evaluate(
        predictions,
        gold,
        report=report,
        allow_missing=allow_missing,
        target_accuracy=target_accuracy,
        bins=bins,
        resamples=resamples,
        seed=seed,
        kind=kind,
        price_input=price_input,
        price_output=price_output,
        input=input,
    )
    check = None
    if calibration is not None:  # checked before printing, so a bad file stops with no table
        check = api.check_calibration(
            predictions, gold, calibration, bins=bins, allow_missing=allow_missing, kind=kind
        )
    _show_eval(result)
    if check is not None:
        _show_check(check, calibration)


def _show_eval(result: api.EvalResult) -> None:
    s = result.summary
    table = Table("metric", "value", "95% CI", title=f"{s.records} {s.kind} records against gold")
    estimates = [(accuracy_title(s.kind), s.accuracy)]
    estimates += [(title, s.metrics[name]) for name, title in metric_titles(s.kind)]
    for title, estimate in estimates:
        table.add_row(title, f"{estimate.value:.3f}", f"{estimate.low:.3f}–{estimate.high:.3f}")
    for calibration in s.calibration:
        kind = calibration.binning.replace("_", "-")
        table.add_row(f"ECE ({s.options.bins} {kind} bins)", f"{calibration.ece:.3f}", "")
    table.add_row("Brier score", f"{s.brier:.3f}", "")
    auroc = "n/a (all right or all wrong)" if s.auroc is None else f"{s.auroc:.3f}"
    table.add_row("AUROC of confidence", auroc, "")
    out.print(table)
    p = s.pairing
    if p.gold_without_prediction or p.predictions_without_gold:
        out.print(
            f"left out: {len(p.gold_without_prediction)} gold ids without a prediction, "
            f"{len(p.predictions_without_gold)} predictions without gold (--allow-missing)",
            soft_wrap=True,
        )
    out.print(
        f"labeled {s.labeled} · abstained {s.abstained} · failed {s.failed}"
        f"{f' · skipped {s.skipped}' if s.skipped else ''} (all but labeled count as wrong)\n"
        f"selective prediction: {s.selective.sentence()}",
        soft_wrap=True,
    )
    if s.cost is not None:
        out.print(f"cost and time: {cost_sentence(s.cost)}", soft_wrap=True)
    if result.report is not None:
        out.print(f"report: {result.report}")
    for warning in s.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)


@app.command("compare")
def compare_(
    compare_file: Annotated[Path, typer.Argument(help="Compare file (YAML): task + variants.")],
    gold: Annotated[str, Opt("--gold", "-g", help="Gold rows: the task's fields + label.")],
    input: Annotated[
        str | None, Opt("--input", "-i", help="Records to label, if gold holds only labels.")
    ] = None,
    limit: Annotated[int | None, Opt(min=1, help="Score a seeded sample of N records.")] = None,
    seed: Annotated[int, Opt(help="Seed of the sample and of the bootstrap.")] = 0,
    report: Annotated[
        Path | None, Opt(help="Folder for report.md/.html, summary.json, plots, predictions.")
    ] = None,
    alpha: Annotated[
        float, Opt(min=0.0, max=1.0, help="Significance level (Holm-adjusted p).")
    ] = 0.05,
    resamples: Annotated[int, Opt(min=1, help="Bootstrap resamples.")] = 1000,
    cache: Annotated[Path | None, Opt(help="Request cache file (SQLite).")] = None,
    no_cache: Annotated[
        bool, Opt("--no-cache", help="Do not read or write the request cache.")
    ] = False,
) -> None:
    """Run every variant of COMPARE_FILE on the same gold records; leaderboard and paired tests."""

    def on_variant(name: str, i: int, total: int) -> None:
        err.print(f"variant {i}/{total}: {name} …", highlight=False)

    result = api.compare(
        compare_file,
        gold,
        input=input,
        limit=limit,
        seed=seed,
        report=report,
        cache=False if no_cache else (cache or True),
        alpha=alpha,
        resamples=resamples,
        on_variant=on_variant,
    )
    _show_compare(result)


@app.command("tune")
def tune_(
    task: Annotated[Path, typer.Argument(help="Task file (YAML) to tune.")],
    gold: Annotated[str, Opt("--gold", "-g", help="Gold rows: the task's fields + label.")],
    output: Annotated[Path, Opt("--output", "-o", help="Tuned task file to write.")],
    input: Annotated[
        str | None, Opt("--input", "-i", help="Records to label, if gold holds only labels.")
    ] = None,
    dev_share: Annotated[
        float, Opt(min=0.0, max=1.0, help="Share of gold searched on; the rest is held out.")
    ] = 0.5,
    limit: Annotated[int | None, Opt(min=1, help="Use a seeded sample of N gold records.")] = None,
    seed: Annotated[int, Opt(help="Seed of the split and of the bootstrap.")] = 0,
    model: Annotated[str | None, Opt(help="Model to tune for (written to the tuned file).")] = None,
    alpha: Annotated[
        float, Opt(min=0.0, max=1.0, help="A step is accepted when McNemar's p < alpha.")
    ] = 0.05,
    steps: Annotated[
        str, Opt(help="Comma-separated steps, in order: describe, instructions, examples, bias.")
    ] = ",".join(api.STEPS),
    cache: Annotated[Path | None, Opt(help="Request cache file (SQLite).")] = None,
    no_cache: Annotated[
        bool, Opt("--no-cache", help="Do not read or write the request cache.")
    ] = False,
) -> None:
    """Search TASK's prompt settings on a dev split of GOLD; score the winner once on held-out."""

    def on_step(name: str) -> None:
        err.print(f"{name} …", highlight=False)

    result = api.tune(
        task,
        gold,
        output,
        input=input,
        dev_share=dev_share,
        limit=limit,
        seed=seed,
        alpha=alpha,
        steps=comma_list(steps) or [],
        overrides={"backend.model": model} if model else None,
        cache=False if no_cache else (cache or True),
        on_step=on_step,
    )
    accuracy = result.pair.delta("accuracy")
    accepted = [t for t in result.trials if t.accepted]
    out.print(
        f"{len(result.trials)} options tried on {result.dev} dev records, {len(accepted)} "
        f"accepted: {', '.join(t.step for t in accepted) or 'none'}"
    )
    out.print(
        f"held-out ({result.held_out} records, labeled once): accuracy {accuracy.a:.3f} as "
        f"given → {accuracy.b:.3f} tuned ({accuracy.delta:+.3f}, 95% CI {accuracy.low:+.3f} to "
        f"{accuracy.high:+.3f}; McNemar p {result.pair.mcnemar.p_value:.3g})"
    )
    out.print(f"wrote {result.output} and {result.report}")


def _show_compare(result: api.CompareResult) -> None:
    c = result.comparison
    board = Table(Column("variant", no_wrap=True), "accuracy", "95% CI", "abstained / failed")
    board.add_column("seconds")
    board.title = f"{c.records} gold records, every variant"
    for v in c.leaderboard():
        s = v.summary
        board.add_row(
            v.name,
            f"{s.accuracy.value:.3f}",
            f"{s.accuracy.low:.3f}–{s.accuracy.high:.3f}",
            f"{s.abstained} / {s.failed}",
            f"{v.cost.seconds:.1f}",
        )
    out.print(board)
    pairs = Table(Column("B vs A", no_wrap=True), "Δ accuracy", "right→wrong / wrong→right")
    pairs.add_column("McNemar p (Holm)")
    pairs.title = f"paired tests (significant: Holm-adjusted p < {c.alpha:g})"
    for pair in c.pairs:
        delta, test = pair.delta("accuracy"), pair.mcnemar
        mark = " *" if c.significant(test.p_adjusted) else ""
        pairs.add_row(
            f"{pair.b} vs {pair.a}",
            f"{delta.delta:+.3f}",
            f"{len(pair.right_to_wrong)} / {len(pair.wrong_to_right)}",
            f"{test.p_value:.3g} ({test.p_adjusted or test.p_value:.3g}){mark}",
        )
    out.print(pairs)
    if result.report is not None:
        out.print(f"report: {result.report}")


@app.command("calibrate")
def calibrate_(
    predictions: Annotated[Path, typer.Argument(help="Output JSONL of `llmlabel run`.")],
    gold: Annotated[str, Opt("--gold", "-g", help="Dev gold rows {id, label}.")],
    output: Annotated[Path, Opt("--output", "-o", help="Calibration file to write.")],
    method: Annotated[str, Opt(help="platt | isotonic | temperature")] = "platt",
    target_accuracy: Annotated[
        float | None, Opt(min=0.0, max=1.0, help="Accuracy the kept labels must reach.")
    ] = 0.95,
    delta: Annotated[
        float, Opt(min=0.0, max=1.0, help="Allowed chance the kept labels miss the target.")
    ] = 0.05,
    holdout: Annotated[
        float, Opt(min=0.0, max=1.0, help="Share held out to measure and pick the threshold.")
    ] = 0.5,
    seed: Annotated[int, Opt(help="Seed of the fit/held-out split.")] = 0,
    bins: Annotated[int, Opt(min=1, help="ECE bins.")] = 10,
    allow_missing: Annotated[bool, Opt(help="Use only ids in both files.")] = False,
) -> None:
    """Fit a confidence calibration on gold and choose a keep/review threshold with a guarantee."""
    result = api.calibrate(
        predictions,
        gold,
        output,
        method=method,
        target_accuracy=target_accuracy,
        delta=delta,
        holdout=holdout,
        seed=seed,
        bins=bins,
        allow_missing=allow_missing,
    )
    c = result.calibration
    _show_before_after(c.held_out)
    out.print(
        f"{c.map.method} map fitted on {c.fitted_on} labeled records; ECE and Brier measured "
        f"on the {c.held_out.records} held-out records",
        soft_wrap=True,
    )
    if c.selection is not None:
        out.print(f"threshold: {c.selection.sentence()}", soft_wrap=True)
    out.print(f"wrote {result.output}")


def _show_check(check: api.CalibrationCheck, calibration: Path | None) -> None:
    _show_before_after(check.quality)
    out.print(
        f"calibration {calibration}: measured on {check.quality.records} records it did not "
        f"see ({check.left_out} it was fitted or chosen on are left out)",
        soft_wrap=True,
    )
    if check.threshold is None:
        out.print("threshold: none, every label goes to review")
        return
    accuracy = f"{check.right / check.kept:.1%}" if check.kept else "n/a"
    out.print(
        f"threshold {check.threshold:.4g} keeps {check.kept} of {check.quality.records} "
        f"records ({check.coverage:.0%}) at {accuracy} accuracy (target {check.target:.0%})",
        soft_wrap=True,
    )


def _show_before_after(q: api.BeforeAfter) -> None:
    table = Table("calibration", "before", "after")
    table.add_row(f"ECE ({q.bins} equal-width bins)", f"{q.ece_before:.3f}", f"{q.ece_after:.3f}")
    table.add_row("Brier score", f"{q.brier_before:.3f}", f"{q.brier_after:.3f}")
    out.print(table)
