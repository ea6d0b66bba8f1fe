"""``run`` (and its ``--dry-run`` plan) and ``preview``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.table import Table

from llmlabel import api
from llmlabel.cli.app import Opt, app, comma_list, err, out
from llmlabel.cli.progress import _progress, _ProgressLines
from llmlabel.errors import LLMLabelError
from llmlabel.runs.stats import RunStats


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
    vary_prompts: Annotated[
        bool,
        Opt(
            help="Each sample sees the labels and examples in its own order (--samples: how many)."
        ),
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
        "vary_prompts": True if vary_prompts else None,
        "examples.strategy": strategy,
        "temperature": temperature,
        "confidence": confidence,
        "concurrency": concurrency,
        "calibration": str(calibration.resolve()) if calibration else None,
        "image_root": str(image_root.resolve()) if image_root else None,
        "keep_fields": comma_list(keep_fields),
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
                urls = comma_list(endpoints) or []
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
    """Show the messages, answer schema and prompt tokens the first records will be sent.

    No answer is asked for: check the prompt before paying for a run. Tokens are counted by
    the backend's chat template and tokenizer."""
    overrides = {"backend.model": model} if model else None
    shown, schema = api.preview(
        task, input, n=n, overrides=overrides, count_tokens=not estimate_tokens
    )
    if as_json:
        found = [
            {"id": p.record_id, "examples": p.examples, "tokens": p.tokens,
             "prompt_tokens": p.prompt_tokens,
             **({} if p.shortlist is None else {"shortlist": p.shortlist}),
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
        if p.shortlist is not None:
            out.print(f"shortlist: {', '.join(p.shortlist)}", markup=False, highlight=False)
        for message, tokens in zip(p.messages, p.tokens, strict=True):
            out.print(f"[{message.role}] (≈{tokens:,} tokens)", markup=False, highlight=False)
            out.print(message.content, markup=False, highlight=False, soft_wrap=True)
            for image in message.images:
                out.print(f"  + image {image[:60]}{'…' if len(image) > 60 else ''}", markup=False)
    shortlisted = " (the full label set; each record is asked among its shortlist)"
    out.rule(
        "answer schema (constrained decoding)"
        + (shortlisted if shown and shown[0].shortlist else "")
    )
    out.print_json(data=schema)
    exact = bool(shown) and shown[0].prompt_tokens is not None
    out.print(
        "prompt tokens counted by the model's tokenizer (chat template included); per message: "
        "estimates (characters / 4)"
        if exact
        else "token counts are estimates (characters / 4)",
        style="dim",
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
    if stats.shortlist_fallbacks:
        out.print(
            f"{stats.shortlist_fallbacks} record(s) labeled again among every label "
            "(below shortlist.fallback_below)"
        )
    for warning in stats.warnings():
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    if stats.skipped_bad:
        out.print(f"skipped {stats.skipped_bad} bad record(s) (rows with status 'skipped'):")
        for reason in stats.skipped_where:
            out.print(f"  {reason}", markup=False, highlight=False, soft_wrap=True)
        if stats.skipped_bad > len(stats.skipped_where):
            out.print(f"  … and {stats.skipped_bad - len(stats.skipped_where)} more")
