"""What happens to labels after a run: ``export``, ``review``/``merge``, ``distill``,
``audit``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from rich.table import Table

from llmlabel import api
from llmlabel.cli.app import Opt, app, num, out


@app.command("export")
def export_(
    predictions: Annotated[Path, typer.Argument(help="Output JSONL of `llmlabel run`.")],
    input: Annotated[str, Opt("--input", "-i", help="The input that was labeled (joined by id).")],
    output: Annotated[Path, Opt("--output", "-o", help="File, or folder for hf / --split.")],
    format: Annotated[str, Opt("--format", "-f", help="hf | parquet | jsonl | csv | sft")] = "hf",
    task: Annotated[Path | None, Opt(help="Task file: renders sft prompts, checks labels.")] = None,
    min_confidence: Annotated[float | None, Opt(help="Keep records at least this sure.")] = None,
    drop_abstained: Annotated[
        bool,
        Opt(
            "--drop-abstained/--keep-abstained",
            help="Drop abstained/failed rows, or keep them unlabeled.",
        ),
    ] = True,
    per_class_max: Annotated[int | None, Opt(help="At most N records per label (seeded).")] = None,
    balance: Annotated[bool, Opt(help="Cut every label to the smallest one (seeded).")] = False,
    split: Annotated[float | None, Opt(help="Validation share, stratified by label.")] = None,
    seed: Annotated[int, Opt(help="Seed for downsampling and the split.")] = 0,
    overwrite: Annotated[bool, Opt(help="Replace OUTPUT (an earlier export).")] = False,
) -> None:
    """Export predictions with their records as a silver training set, with a dataset card."""
    result = api.export(
        predictions,
        input,
        output,
        format=format,
        task=task,
        min_confidence=min_confidence,
        drop_abstained=drop_abstained,
        per_class_max=per_class_max,
        balance=balance,
        split=split,
        seed=seed,
        overwrite=overwrite,
    )
    _show_export(result)


def _show_export(result: api.ExportResult) -> None:
    selection = result.selection
    table = Table("step", "removed", "left", title=f"exported {result.output} ({result.format})")
    left = selection.total
    table.add_row("predictions read", "", str(left))
    for step in selection.steps:
        left -= step.removed
        table.add_row(step.name, str(step.removed), str(left))
    out.print(table)
    sizes = " · ".join(f"{name} {len(part)}" for name, part in selection.splits.items())
    out.print(f"{sizes}\ncard: {result.card}")
    for note in result.notes:
        out.print(f"note: {note}")


@app.command("review")
def review_(
    predictions: Annotated[Path, typer.Argument(help="Output JSONL of `llmlabel run`.")],
    input: Annotated[str, Opt("--input", "-i", help="The input that was labeled (joined by id).")],
    task: Annotated[Path, Opt(help="The task file: labels and fields of the review form.")],
    output: Annotated[Path, Opt("--output", "-o", help="Folder for the hand-off files.")],
    budget: Annotated[int, Opt(min=1, help="How many records to send to people.")],
    strategy: Annotated[
        str, Opt(help="least_confidence | margin | entropy | committee | random")
    ] = "least_confidence",
    format: Annotated[str, Opt("--format", "-f", help="label-studio | argilla")] = "label-studio",
    max_similarity: Annotated[
        float | None, Opt(help="Skip near-duplicates: word-bigram Jaccard above this (0-1).")
    ] = None,
    seed: Annotated[int, Opt(help="Seed of --strategy random.")] = 0,
    force: Annotated[bool, Opt(help="Replace OUTPUT (an earlier review folder).")] = False,
) -> None:
    """Choose the records most worth a person's time and write them for Label Studio/Argilla."""
    result = api.review(
        predictions,
        input,
        output,
        task=task,
        budget=budget,
        strategy=strategy,
        format=format,
        seed=seed,
        max_similarity=max_similarity,
        force=force,
    )
    choice = result.choice
    out.print(
        f"chose {len(choice.chosen)} of {choice.candidates} records by {result.strategy} "
        f"({choice.near_duplicates} near-duplicates skipped)\n"
        f"{result.format}: {result.output} ({', '.join(result.files)})",
        soft_wrap=True,
    )
    for note in choice.notes:
        out.print(f"note: {note}", soft_wrap=True)


@app.command("merge")
def merge_(
    predictions: Annotated[Path, typer.Argument(help="Output JSONL of `llmlabel run`.")],
    corrections: Annotated[
        Path, Opt(help="Label Studio JSON export, Argilla records.json, or JSONL {id, label}.")
    ],
    task: Annotated[Path, Opt(help="The task file (checks the reviewers' labels).")],
    output: Annotated[Path, Opt("--output", "-o", help="Merged JSONL.")],
    append_examples: Annotated[
        Path | None, Opt(help="Append the corrections to this few-shot pool (JSONL).")
    ] = None,
    force: Annotated[bool, Opt(help="Replace OUTPUT.")] = False,
) -> None:
    """Put reviewers' labels in place of the model's; agreement between model and reviewers."""
    result = api.merge(
        predictions,
        corrections,
        output,
        task=task,
        append_examples=append_examples,
        force=force,
    )
    a = result.agreement
    if isinstance(a, api.SpanAgreement):
        summary = _show_span_agreement(a)
    else:
        table = Table("label", "reviewer", "model", "both", "accuracy", "kappa")
        for name, c in a.per_class.items():
            table.add_row(
                name, str(c.reviewer), str(c.model), str(c.both), f"{c.accuracy:.3f}", num(c.kappa)
            )
        table.title = f"model vs reviewers on {a.records} records"
        out.print(table)
        summary = f"accuracy {num(a.accuracy)} · Cohen's kappa {num(a.kappa)}"
    out.print(
        f"{summary} · {a.model_unlabeled} reviewed record(s) the model had not labeled\n"
        f"merged {result.rows} rows: {result.corrected} by reviewers "
        f"({result.changed} changed) → {result.output}",
        soft_wrap=True,
    )
    if append_examples is not None:
        out.print(f"appended {result.appended} example(s) to {append_examples}")
    for note in result.notes:
        out.print(f"note: {note}", soft_wrap=True)


@app.command("distill")
def distill_(
    predictions: Annotated[Path, typer.Argument(help="Output JSONL of `llmlabel run`.")],
    input: Annotated[str, Opt("--input", "-i", help="The input that was labeled (joined by id).")],
    gold: Annotated[str, Opt("--gold", "-g", help="Gold rows {id, label} (+ text or in input).")],
    report: Annotated[Path, Opt(help="Folder for report.md, summary.json and plots/.")],
    task: Annotated[Path | None, Opt(help="Task file: the fields the student reads.")] = None,
    field: Annotated[
        list[str] | None, Opt(help="Record field the student reads (repeatable; default text).")
    ] = None,
    min_confidence: Annotated[float | None, Opt(help="Train on silver at least this sure.")] = None,
    embedder: Annotated[str, Opt(help="auto | minilm | tfidf")] = "auto",
    folds: Annotated[int, Opt(help="Cross-fitting folds when gold records are silver too.")] = 5,
    seed: Annotated[int, Opt(help="Seed of the folds and of the curves' draws.")] = 0,
    save: Annotated[Path | None, Opt(help="Save the trained student here (joblib).")] = None,
) -> None:
    """Train a small student on the silver labels and measure it on gold, with learning curves."""
    if embedder not in ("auto", "minilm", "tfidf"):
        raise click.BadParameter("use auto, minilm or tfidf", param_hint="--embedder")
    result = api.distill(
        predictions,
        input,
        gold,
        report,
        task=task,
        fields=field,
        min_confidence=min_confidence,
        embedder=embedder,  # type: ignore[arg-type]
        folds=folds,
        seed=seed,
        save=save,
    )
    a, f = result.accuracy, result.macro_f1
    table = Table("silver records", "gold accuracy", title="student vs silver set size")
    for p in result.size_curve:
        table.add_row(str(p.records), f"{p.accuracy:.3f}")
    out.print(table)
    out.print(
        f"student ({result.embedder}) on {result.gold} gold records, trained on {result.silver} "
        f"silver: accuracy {a.value:.3f} ({a.low:.3f}–{a.high:.3f}) · macro-F1 {f.value:.3f}\n"
        f"report: {result.report}",
        soft_wrap=True,
    )
    if result.saved is not None:
        out.print(f"student: {result.saved}")
    for note in result.notes:
        out.print(f"note: {note}", soft_wrap=True)


@app.command("audit")
def audit_(
    predictions: Annotated[Path, typer.Argument(help="Output JSONL of a run over the gold.")],
    gold: Annotated[str, Opt("--gold", "-g", help="Gold set or few-shot pool {id, label}.")],
    output: Annotated[Path, Opt("--output", "-o", help="Flagged records (JSONL).")],
    calibration: Annotated[
        Path | None, Opt(help="calib.json: calibrate the vote shares first.")
    ] = None,
    threshold: Annotated[
        float | None, Opt(help="One threshold for every class (default: per class).")
    ] = None,
    label_field: Annotated[str, Opt(help="The gold rows' label column.")] = "label",
    allow_missing: Annotated[bool, Opt(help="Audit only gold ids with a prediction.")] = False,
    force: Annotated[bool, Opt(help="Replace OUTPUT.")] = False,
    input: Annotated[
        str | None,
        Opt("--input", "-i", help="The labeled input, joined by id: flagged rows get its text."),
    ] = None,
) -> None:
    """Flag likely label errors in gold: given labels the model confidently contradicts."""
    result = api.audit(
        predictions,
        gold,
        output,
        calibration=calibration,
        threshold=threshold,
        label_field=label_field,
        allow_missing=allow_missing,
        force=force,
        input=input,
    )
    a = result.audit
    table = Table("given label", "threshold", "confirmed", "flagged", title="confident learning")
    for label in a.labels:
        confirmed = a.joint.get((label, label), 0)
        flagged = sum(f.given == label for f in a.flags)
        table.add_row(label, f"{a.thresholds[label]:.3f}", str(confirmed), str(flagged))
    out.print(table)
    for f in a.flags[:10]:
        out.print(
            f"  {f.id}: {f.given} → {f.suggested} (margin {f.margin:.2f})",
            markup=False,
            soft_wrap=True,
        )
    scored = a.records - a.unscored
    out.print(
        f"flagged {len(a.flags)} of {a.records} records ({scored} scored, "
        f"{'calibrated' if result.calibrated else 'vote-share'} confidence) → {result.output}",
        soft_wrap=True,
    )
    for note in result.notes:
        out.print(f"note: {note}", soft_wrap=True)


def _show_span_agreement(a: api.SpanAgreement) -> str:
    """Print the per-type table (types with a span); return the summary line."""
    table = Table("entity type", "reviewer", "model", "both", "precision", "recall", "F1")
    for name, t in a.per_type.items():
        if t.reviewer or t.model:
            scores = (f"{x:.3f}" for x in (t.precision, t.recall, t.f1))
            table.add_row(name, str(t.reviewer), str(t.model), str(t.both), *scores)
    table.title = f"model vs reviewers on {a.records} records (spans: start, end and type)"
    out.print(table)
    return (
        f"span precision {num(a.precision)} · recall {num(a.recall)} · F1 {num(a.f1)} · "
        f"records left as they were {num(a.exact)}"
    )
