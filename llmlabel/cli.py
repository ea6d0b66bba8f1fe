"""Command line: a thin typer layer over ``llmlabel.api``.

Errors print ``error: <message>`` and ``hint: <hint>`` and exit non-zero; ``--debug`` (anywhere
on the command line, or ``LLMLABEL_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as ProgressTask
from rich.table import Column, Table
from rich.text import Text

from llmlabel import api, models
from llmlabel._version import __version__
from llmlabel.errors import LLMLabelError, clean
from llmlabel.io.report import accuracy_title, cost_sentence, metric_titles
from llmlabel.runs.local import RunStats


def _typer_click_errors() -> tuple[type[Exception], ...]:
    """Newer typer releases vendor click: their usage errors are not ``click.ClickException``."""
    try:
        vendored = importlib.import_module("typer._click.exceptions")
    except ImportError:
        return ()
    return (vendored.ClickException,)


_EXIT = (click.exceptions.Exit, typer.Exit)
_ABORT = (click.exceptions.Abort, typer.Abort)
_CLICK_ERROR: tuple[type[Exception], ...] = (click.ClickException, *_typer_click_errors())

app = typer.Typer(
    help="Label data with LLMs: validated answers, voted confidence, resumable runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List and download the embedded models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmlabel {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, Opt("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Label data with LLMs: validated answers, voted confidence, resumable runs."""


# Paths, labels and model names are printed as given: "[/]" in one is text, not rich markup.
out = Console(markup=False, emoji=False)
err = Console(stderr=True, markup=False, emoji=False)

Opt = typer.Option


class OnErrorChoice(str, Enum):
    fail = "fail"
    skip = "skip"


class RunnerChoice(str, Enum):
    local = "local"
    ray = "ray"


@app.command()
def run(
    task: Annotated[Path, typer.Argument(help="Task file (YAML).")],
    input: Annotated[str, Opt("--input", "-i", help="JSONL/CSV/Parquet file, HF dataset dir.")],
    output: Annotated[Path | None, Opt("--output", "-o", help="Output JSONL.")] = None,
    backend: Annotated[
        str | None, Opt(help="embedded | openai_compat | transformers | vllm_offline")
    ] = None,
    model: Annotated[str | None, Opt(help="Model name or .gguf path.")] = None,
    base_url: Annotated[str | None, Opt(help="OpenAI-compatible /v1 URL.")] = None,
    samples: Annotated[int | None, Opt(help="Samples voted per record.")] = None,
    adaptive: Annotated[
        bool, Opt(help="Stop sampling a record once its vote is settled (--samples: the cap).")
    ] = False,
    strategy: Annotated[
        str | None, Opt(help="Few-shot examples: fixed, random, label_balanced, semantic, mmr.")
    ] = None,
    temperature: Annotated[float | None, Opt(help="Sampling temperature.")] = None,
    confidence: Annotated[
        str | None, Opt(help="vote | logprob | combined: where confidence comes from.")
    ] = None,
    concurrency: Annotated[int | None, Opt(help="Records in flight.")] = None,
    limit: Annotated[int | None, Opt(min=0, help="Label only the first N records.")] = None,
    resume: Annotated[bool, Opt(help="Continue a stopped run into OUTPUT.")] = False,
    retry_failed: Annotated[
        bool,
        Opt("--retry-failed/--no-retry-failed", help="With --resume: label failed records again."),
    ] = True,
    overwrite: Annotated[
        bool, Opt(help="Replace OUTPUT, once the run has started (its first row).")
    ] = False,
    dry_run: Annotated[
        bool,
        Opt(help="Show the plan: requests, tokens by the model's tokenizer, cost; no answers."),
    ] = False,
    estimate_tokens: Annotated[
        bool, Opt(help="--dry-run: estimate tokens (4 characters each); load no tokenizer.")
    ] = False,
    price_input: Annotated[
        float | None, Opt(min=0.0, help="--dry-run: USD per million prompt tokens.")
    ] = None,
    price_output: Annotated[
        float | None, Opt(min=0.0, help="--dry-run: USD per million completion tokens.")
    ] = None,
    cache: Annotated[Path | None, Opt(help="Request cache file (SQLite).")] = None,
    no_cache: Annotated[
        bool, Opt("--no-cache", help="Do not read or write the request cache.")
    ] = False,
    on_error: Annotated[
        OnErrorChoice, Opt(help="A bad record stops the run (fail) or becomes a skipped row.")
    ] = OnErrorChoice.fail,
    calibration: Annotated[
        Path | None, Opt(help="calib.json: calibrate confidence and route keep/review.")
    ] = None,
    image_root: Annotated[
        Path | None, Opt(help="Folder record images may be read from (default: the input's).")
    ] = None,
    keep_fields: Annotated[
        str | None, Opt(help="Comma-separated input fields copied into each row (`input`).")
    ] = None,
    runner: Annotated[
        RunnerChoice, Opt(help="local (asyncio, one process) or ray (Ray Data, llmlabel[ray]).")
    ] = RunnerChoice.local,
    address: Annotated[
        str | None, Opt(help="ray: a running cluster ('auto'); default: start a local one.")
    ] = None,
    endpoints: Annotated[
        str | None, Opt(help="ray: comma-separated /v1 URLs serving the model, round-robin.")
    ] = None,
    actors: Annotated[int, Opt(min=1, help="ray: labeling actors.")] = 2,
) -> None:
    """Label every record of INPUT with TASK; one row per record in OUTPUT."""
    overrides: dict[str, Any] = {
        "backend.type": backend,
        "backend.model": model,
        "backend.base_url": base_url,
        "samples": samples,
        "adaptive": True if adaptive else None,
        "examples.strategy": strategy,
        "temperature": temperature,
        "confidence": confidence,
        "concurrency": concurrency,
        "calibration": str(calibration.resolve()) if calibration else None,
        "image_root": str(image_root.resolve()) if image_root else None,
        "keep_fields": _names(keep_fields),
    }
    if dry_run:
        plan = api.plan(task, input, limit=limit, overrides=overrides,
                        count_tokens=not estimate_tokens)  # fmt: skip
        _show_plan(plan, price_input, price_output)
        return
    if output is None:
        raise click.UsageError("--output is required (or use --dry-run)")
    if runner is RunnerChoice.local and (address or endpoints):
        raise click.UsageError("--address and --endpoints need --runner ray")
    with _progress() as progress:
        total = api.count_records(input, limit)
        bar = progress.add_task("labeling", total=total, info="")
        lines = None if err.is_terminal else _ProgressLines(total)

        def on_row(stats: RunStats) -> None:
            if lines is not None:
                lines.update(stats)
            progress.update(
                bar,
                completed=stats.done,
                info=f"{stats.labeled} labeled · {stats.abstained} abstained · "
                f"{stats.failed} failed",
            )

        options: dict[str, Any] = {
            "resume": resume,
            "overwrite": overwrite,
            "limit": limit,
            "cache": False if no_cache else (cache or True),
            "overrides": overrides,
            "on_row": on_row,
            "on_error": on_error.value,
            "retry_failed": retry_failed,
        }
        try:
            if runner is RunnerChoice.ray:
                urls = _names(endpoints) or []
                options.update(address=address, endpoints=urls, actors=actors)
                result = api.label_on_ray(task, input, output, **options)
            else:
                result = api.label(task, input, output, **options)
        except KeyboardInterrupt as exc:
            rows = f"{exc.rows} rows written, " if isinstance(exc, api.Interrupted) else ""
            err.print(f"interrupted: {rows}rerun with --resume", highlight=False)
            raise
    _show_summary(result)
    if result.failed:
        first = result.stats.first_failure or "kept from the run this one resumed"
        raise LLMLabelError(
            f"{result.failed} record(s) failed (first: {first})",
            hint=f"their rows in {output} say why; fix the cause and rerun with --resume "
            "to label them again (cached answers are reused)",
        )


@app.command("preview")
def preview(
    task: Annotated[Path, typer.Argument(help="Task file (YAML).")],
    input: Annotated[str, Opt("--input", "-i", help="JSONL/CSV/Parquet file, HF dataset dir.")],
    n: Annotated[int, Opt("-n", min=1, help="Records to show.")] = 3,
    model: Annotated[str | None, Opt(help="Override backend.model.")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print JSON instead of text.")] = False,
    estimate_tokens: Annotated[
        bool, Opt(help="Estimate tokens (4 characters each); load no tokenizer.")
    ] = False,
) -> None:
    """Show the exact messages and answer schema the first records will be sent, with each
    prompt's tokens as the backend counts them (no answer is asked for): check the prompt
    before paying for a run."""
    overrides = {"backend.model": model} if model else None
    shown, schema = api.preview(
        task, input, n=n, overrides=overrides, count_tokens=not estimate_tokens
    )
    if as_json:
        found = [
            {"id": p.record_id, "examples": p.examples, "tokens": p.tokens,
             "prompt_tokens": p.prompt_tokens,
             "messages": [m.model_dump(exclude_defaults=True) for m in p.messages]}
            for p in shown
        ]  # fmt: skip
        out.print_json(data={"records": found, "schema": schema})
        return
    for p in shown:
        examples = ", ".join(p.examples) or "none"
        counted = (
            f"{p.prompt_tokens:,} prompt tokens" if p.prompt_tokens is not None
            else f"≈{sum(p.tokens):,} tokens"
        )  # fmt: skip
        out.rule(f"record {p.record_id} · examples: {examples} · {counted}")
        for message, tokens in zip(p.messages, p.tokens, strict=True):
            out.print(f"[{message.role}] (≈{tokens:,} tokens)", markup=False, highlight=False)
            out.print(message.content, markup=False, highlight=False, soft_wrap=True)
            for image in message.images:
                out.print(f"  + image {image[:60]}{'…' if len(image) > 60 else ''}", markup=False)
    out.rule("answer schema (constrained decoding)")
    out.print_json(data=schema)
    exact = bool(shown) and shown[0].prompt_tokens is not None
    out.print(
        "prompt tokens counted by the model's tokenizer (chat template included); per message: "
        "estimates (characters / 4)"
        if exact
        else "token counts are estimates (characters / 4)",
        style="dim",
    )


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
        steps=_names(steps) or [],
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


@app.command("serve-check")
def serve_check_(
    base_url: Annotated[str, typer.Argument(help="The server's /v1 URL.")],
    model: Annotated[str | None, Opt(help="Model to probe (default: the first listed).")] = None,
    api_key_env: Annotated[str, Opt(help="Env var holding the API key.")] = "OPENAI_API_KEY",
) -> None:
    """Probe an OpenAI-compatible server: models, n, structured output, logprobs, context."""
    report = api.serve_check(base_url, model=model, api_key_env=api_key_env)
    table = Table("probe", "works", "details", title=f"{report.base_url} · {report.model}")
    table.add_row("models", "yes", ", ".join(report.models) or "none listed")
    table.add_row("max context", "", report.context or "unknown")
    for dialect, probe in report.dialects.items():
        known = "" if dialect in ("structured_outputs", "guided_json", "json_schema") else "*"
        table.add_row(f"structured: {dialect}{known}", _yes(probe.ok), probe.detail)
    for name, found in (("n > 1", report.n), ("logprobs", report.logprobs)):
        if found is not None:
            table.add_row(name, _yes(found.ok), found.detail)
    out.print(table)
    out.print("* probed for information; llmlabel does not send this dialect", highlight=False)
    out.print(f"llmlabel will use: structured_output {report.structured_output}", highlight=False)
    out.print(report.backend_yaml(api_key_env), markup=False, highlight=False)


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


@models_app.command("list")
def models_list() -> None:
    """Known models, their sources and whether they are downloaded."""
    table = Table("name", "size", "cached", "source", "about")
    for info, cached in models.list_models():
        table.add_row(
            info.name,
            f"{info.size / 1e6:,.0f} MB",
            "yes" if cached else "no",
            info.source_summary,
            info.description,
        )
    out.print(table)
    out.print(f"cache: {models.cache_dir() / 'models'}  (set LLMLABEL_CACHE_DIR to move it)")


@models_app.command("pull")
def models_pull(name: Annotated[str, typer.Argument(help="A name from `models list`.")]) -> None:
    """Download a model into the cache (sha256 verified)."""
    path = models.pull(name, progress=True)
    out.print(f"{name}: {path}")


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
                name, str(c.reviewer), str(c.model), str(c.both), f"{c.accuracy:.3f}", _num(c.kappa)
            )
        table.title = f"model vs reviewers on {a.records} records"
        out.print(table)
        summary = f"accuracy {_num(a.accuracy)} · Cohen's kappa {_num(a.kappa)}"
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


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


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
        f"span precision {_num(a.precision)} · recall {_num(a.recall)} · F1 {_num(a.f1)} · "
        f"records left as they were {_num(a.exact)}"
    )


class _RateColumn(ProgressColumn):
    def render(self, task: ProgressTask) -> Text:
        return Text(f"{task.speed:.2f} rec/s" if task.speed else "… rec/s")


class _ProgressLines:
    """Progress where there is no terminal for a bar (a notebook's ``!llmlabel``, CI, nohup):
    one line every ``LLMLABEL_PROGRESS_SECONDS`` (30 by default)."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.every = float(os.environ.get("LLMLABEL_PROGRESS_SECONDS", "30"))
        self.last = time.monotonic()

    def update(self, stats: RunStats) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        elapsed = now - stats.started
        rate = stats.done / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total:,}" if self.total else ""
        eta = ""
        if self.total and rate > 0:
            left = max(0, self.total - stats.done) / rate
            eta = f" · ETA {int(left // 60)}m{int(left % 60):02d}s"
        err.print(
            f"progress: {stats.done:,}{of} records · {rate:.2f} rec/s{eta} · "
            f"{stats.labeled} labeled · {stats.abstained} abstained · {stats.failed} failed"
            + (f" · {stats.skipped_bad} skipped" if stats.skipped_bad else ""),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _names(text: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    return None if text is None else [name.strip() for name in text.split(",") if name.strip()]


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )


def _show_plan(
    plan: api.Plan, price_input: float | None = None, price_output: float | None = None
) -> None:
    spec = plan.task.spec
    table = Table("plan", "", show_header=False)
    table.add_row("task", f"{spec.name} ({spec.kind}, template {plan.task.renderer.name})")
    table.add_row("backend", f"{spec.backend.type} · {spec.backend.model}")
    table.add_row("records", f"{plan.records:,}")
    table.add_row("samples per record", str(plan.samples_per_record))
    requests = f"{plan.requests:,}"
    if plan.requests_max > plan.requests:
        requests += f" (at most {plan.requests_max:,} with re-asks and label probes)"
    table.add_row("requests", requests)
    table.add_row("few-shot examples", str(plan.task.selector.k))
    est = "" if plan.tokens_exact else " (est.)"
    table.add_row(f"prompt tokens sent{est}", f"{plan.prompt_tokens:,}")
    table.add_row(f"  evaluated with prefix caching{est}", f"{plan.prompt_tokens_uncached:,}")
    table.add_row("  counted by", plan.tokens_counted_by)
    table.add_row("completion tokens (at most)", f"{plan.completion_tokens_max:,}")
    if price_input is not None or price_output is not None:
        low = plan.prompt_tokens * (price_input or 0.0) / 1e6
        high = low + plan.completion_tokens_max * (price_output or 0.0) / 1e6
        table.add_row("cost (est., USD)", f"{low:,.4f} to {high:,.4f}")
    out.print(table)
    for note in plan.notes:
        out.print(f"note: {note}")


def _show_summary(result: api.RunResult) -> None:
    stats = result.stats
    table = Table("label", "records", "share", title=f"labeled {result.output}")
    for name, count in stats.labels.most_common():
        table.add_row(name, str(count), f"{count / max(stats.labeled, 1):.0%}")
    out.print(table if stats.labels else table.title)  # extraction, free text: no label totals
    mean = f"{stats.mean_confidence:.3f}" if stats.mean_confidence is not None else "n/a"
    rate = stats.done / stats.seconds if stats.seconds else 0.0
    out.print(
        f"records {stats.records} · labeled {stats.labeled} · abstained {stats.abstained} · "
        f"failed {stats.failed} · already done {stats.skipped} · ties {stats.ties}\n"
        f"mean confidence {mean} · requests {stats.requests} (cache hits {stats.cache_hits}, "
        f"re-asks {stats.reasks}) · tokens {stats.usage.prompt_tokens:,} prompt / "
        f"{stats.usage.completion_tokens:,} completion · {stats.seconds:.1f} s "
        f"({rate:.2f} rec/s)\nmanifest: {result.manifest}"
    )
    for warning in stats.warnings():
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    if stats.skipped_bad:
        out.print(f"skipped {stats.skipped_bad} bad record(s) (rows with status 'skipped'):")
        for reason in stats.skipped_where:
            out.print(f"  {reason}", markup=False, highlight=False, soft_wrap=True)
        if stats.skipped_bad > len(stats.skipped_where):
            out.print(f"  … and {stats.skipped_bad - len(stats.skipped_where)} more")


def _print_error(exc: LLMLabelError) -> None:
    """One line, whatever the message holds: markup is not interpreted, newlines are escaped."""
    text = exc.one_line() + (f"; hint: {exc.hint}" if exc.hint else "")
    line = Text("error:", style="red").append(" " + _one_line(text))
    err.print(line, highlight=False, soft_wrap=True)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


class _Stop:
    """The signal that interrupted the command: its exit status is 128 + its number."""

    received = signal.SIGINT

    @classmethod
    def on_sigterm(cls, signum: int, frame: FrameType | None) -> None:
        """Stop as Ctrl-C does (in a run: in-flight rows are written, the manifest says
        ``interrupted``), but exit with 143."""
        cls.received = signal.Signals(signum)
        handler = signal.getsignal(signal.SIGINT)
        if not callable(handler):  # SIGINT ignored (a background job): stop here
            raise KeyboardInterrupt
        handler(signal.SIGINT, frame)  # Python's raises; asyncio's cancels the run cleanly


PATH = "check the path (a name at most 255 bytes, no symlink loop) and its permissions"


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("LLMLABEL_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    signal.signal(signal.SIGTERM, _Stop.on_sigterm)
    try:
        code = app(args=args, prog_name="llmlabel", standalone_mode=False)
    except LLMLabelError as exc:
        if debug:
            raise
        _print_error(exc)
        sys.exit(exc.exit_code)
    except _EXIT as exc:
        sys.exit(exc.exit_code)
    except _CLICK_ERROR as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except (*_ABORT, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(128 + _Stop.received)
    except OSError as exc:
        if debug or exc.filename is None:
            raise
        # A path the system refuses where no check expected it (a name too long, a symlink
        # loop): the path is what is wrong, not llmlabel.
        _print_error(LLMLabelError(exc.strerror or str(exc), where=str(exc.filename), hint=PATH))
        sys.exit(2)
    except Exception as exc:
        if debug:
            raise
        said = _one_line(clean(f"unexpected {type(exc).__name__}: {exc}"))
        err.print(Text("error:", style="red").append(" " + said), highlight=False, soft_wrap=True)
        err.print("hint: rerun with --debug for the traceback, and please report it")
        sys.exit(2)
    if code == 130:  # typer's status for a KeyboardInterrupt, whichever signal raised it
        code = 128 + _Stop.received
    sys.exit(code if isinstance(code, int) else 0)
