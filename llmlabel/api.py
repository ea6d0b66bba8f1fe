"""The Python API; the CLI is a thin layer over these functions."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from llmlabel.backends import make_backend
from llmlabel.backends.base import Backend
from llmlabel.commands.audit import AuditResult as AuditResult
from llmlabel.commands.audit import audit as audit
from llmlabel.commands.calibrate import CalibrateResult as CalibrateResult
from llmlabel.commands.calibrate import calibrate as calibrate
from llmlabel.commands.calibrate import check_calibration as check_calibration
from llmlabel.commands.compare import CompareResult as CompareResult
from llmlabel.commands.compare import compare as compare
from llmlabel.commands.distill import DistillResult as DistillResult
from llmlabel.commands.distill import distill as distill
from llmlabel.commands.evaluate import EvalResult as EvalResult
from llmlabel.commands.evaluate import evaluate as evaluate
from llmlabel.commands.export import ExportResult as ExportResult
from llmlabel.commands.export import export as export
from llmlabel.commands.review import MergeResult as MergeResult
from llmlabel.commands.review import ReviewResult as ReviewResult
from llmlabel.commands.review import merge as merge
from llmlabel.commands.review import review as review
from llmlabel.commands.serve_check import ServeReport as ServeReport
from llmlabel.commands.serve_check import check as _serve_check
from llmlabel.commands.tune import STEPS as STEPS
from llmlabel.commands.tune import TuneResult as TuneResult
from llmlabel.commands.tune import tune as tune
from llmlabel.core.crossfit import BeforeAfter as BeforeAfter
from llmlabel.core.crossfit import CalibrationCheck as CalibrationCheck
from llmlabel.core.fingerprint import changed as fingerprint_changed
from llmlabel.core.fingerprint import digest as fingerprint_digest
from llmlabel.core.fingerprint import parts as fingerprint_parts
from llmlabel.core.idset import IdSet
from llmlabel.core.review import SpanAgreement as SpanAgreement
from llmlabel.errors import ConfigError
from llmlabel.io.cache import default_cache_path
from llmlabel.io.manifest import (
    environment_info,
    manifest_path_for,
    read_json,
    write_manifest,
)
from llmlabel.io.paths import check_apart
from llmlabel.io.readers import read_records
from llmlabel.io.rowfile import read_rows
from llmlabel.io.sink import JsonlSink, check_output
from llmlabel.runs import bootstrap
from llmlabel.runs import ray as ray_run
from llmlabel.runs.committee import make_runner
from llmlabel.runs.labeling import RunResult as RunResult
from llmlabel.runs.labeling import TaskRef as TaskRef
from llmlabel.runs.labeling import label_records as label_records
from llmlabel.runs.labeling import open_cache as _open_cache
from llmlabel.runs.labeling import run_closing as _run
from llmlabel.runs.local import OnError, Runner
from llmlabel.runs.plan import Plan as Plan
from llmlabel.runs.plan import Preview as Preview
from llmlabel.runs.plan import plan as plan
from llmlabel.runs.plan import preview as preview
from llmlabel.runs.stats import RunStats
from llmlabel.task import PreparedTask, for_input, load


class Interrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM: ``rows`` rows are in ``output`` (its manifest says
    ``interrupted``); ``--resume`` continues it."""

    def __init__(self, output: Path, rows: int):
        super().__init__(f"{output}: interrupted with {rows} rows written")
        self.output = output
        self.rows = rows


def label(
    task: TaskRef,
    input: str | Path,
    output: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    retry_failed: bool = True,
    limit: int | None = None,
    cache: str | Path | bool = True,
    overrides: Mapping[str, Any] | None = None,
    backend: Backend | None = None,
    on_row: Callable[[RunStats], None] | None = None,
    on_error: OnError = "fail",
) -> RunResult:
    """Label every record of ``input`` into the append-only JSONL ``output``.

    ``overrides`` take dotted task keys (``{"backend.model": "smollm2-135m", "samples": 5}``).
    ``cache``: True for the default SQLite cache, a path, or False for none.
    ``on_error``: a bad record (unreadable line, repeated id, missing or empty field, too long
    for the model) stops the run (``"fail"``) or is written as a ``skipped`` row (``"skip"``).
    ``resume`` continues ``output`` if its manifest has this run's fingerprint, labeling its
    failed records again unless ``retry_failed`` is False. An existing output (and its
    manifest) is changed only once the run starts: its first row, or its end.
    """
    prepared = for_input(load(task, overrides), input)
    output = Path(output)
    if prepared.spec.bootstrap is not None:
        return bootstrap.label(
            task, prepared, input, output, label, resume=resume, overwrite=overwrite,
            overrides=dict(overrides or {}), retry_failed=retry_failed, limit=limit,
            cache=cache, backend=backend, on_row=on_row, on_error=on_error,
        )  # fmt: skip
    manifest = manifest_path_for(output)
    store_path = None if cache is False else default_cache_path() if cache is True else Path(cache)
    check_apart(
        {"--output": output, "the manifest": manifest, "--cache": store_path},
        _reads(task, input, prepared),
    )
    existing = check_output(output, resume=resume, overwrite=overwrite)
    records = read_records(input, id_field=prepared.spec.id_field, limit=limit, keep_bad=True)
    live = backend or make_backend(prepared.spec)
    owned = live if backend is None else None  # closed by ``_run`` once the run is under way
    try:
        info = _run_info(prepared, input, output, resume, model_id=live.model_id)
        info["fingerprint"] = _fingerprint(prepared, live.model_id)
        known = None
        if existing and resume:
            check_fingerprint(manifest, info["fingerprint"], missing_ok=False)
            known = _input_ids(input, prepared.spec.id_field)
        sink = JsonlSink.open(
            output, resume=resume, overwrite=overwrite, retry_failed=retry_failed, known_ids=known
        )
        try:
            store = _open_cache(cache)
            runner = make_runner(prepared, live, store, sink, on_row=on_row, on_error=on_error)
        except BaseException:
            sink.discard()
            raise
    except BaseException:
        if owned is not None:
            asyncio.run(owned.aclose())
        raise
    sink.on_start = lambda: write_manifest(manifest, info)
    with sink:
        try:
            stats = asyncio.run(_run(runner, records, owned))
            sink.start()
        except BaseException as exc:
            _stopped(manifest, info, runner, sink.started, exc)
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(output, sink.rows if sink.started else 0) from exc
            raise
        finally:
            store.close()
        info.update(status="completed", finished_at=_now(), **_totals(runner))
        write_manifest(manifest, info)
    return RunResult(
        output=output,
        manifest=manifest,
        stats=stats,
        model_id=live.model_id,
        failed_kept=sink.failed_kept,
    )


def check_fingerprint(
    manifest: Path, fingerprint: dict[str, Any], *, missing_ok: bool = True
) -> None:
    """Refuse to resume an output whose manifest has another run's fingerprint (a manifest
    without one, from llmlabel before fingerprints, is not checked); ``missing_ok=False``:
    also one with no readable manifest, as its rows could be any task's."""
    data = read_json(manifest)
    if data is None and not missing_ok:
        raise ConfigError(
            "cannot resume: the output's manifest is missing or unreadable, so the settings "
            "its rows were labeled with cannot be checked",
            where=str(manifest),
            hint="put the manifest back beside the output, or start again with --overwrite "
            "or a new --output",
        )
    earlier = (data or {}).get("fingerprint")
    if not isinstance(earlier, dict) or earlier.get("sha256") == fingerprint["sha256"]:
        return
    keys = fingerprint_changed(earlier.get("parts") or {}, fingerprint["parts"])
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    raise ConfigError(
        f"cannot resume: the output was labeled with other settings (changed: {shown})",
        where=str(manifest),
        hint="resume with the same task and options, or start again with --overwrite "
        "or a new --output",
    )


def _fingerprint(prepared: PreparedTask, model_id: str) -> dict[str, Any]:
    """What decides a run's labels (``core.fingerprint``); settings that change only speed
    (concurrency, timeouts, threads, the API key's variable) are left out."""
    backend_ops = {"timeout", "parallel", "threads", "api_key_env", "device", "batch_size"}
    ops: dict[str, Any] = {
        "concurrency": True,
        "image_root": True,
        "backend": backend_ops,
        "retries": {"attempts", "stop_after"},
        "committee": {"__all__": {"backend": backend_ops}},
    }
    settings = {
        "task": prepared.spec.model_dump(mode="json", by_alias=True, exclude=ops),
        "provenance": prepared.provenance(),
        "schema": json.dumps(prepared.schema, sort_keys=True),  # one part each: the schema,
        "examples": json.dumps(  # the few-shot examples as shown: their fields and answers
            {e.id: [e.data, prepared.answers[e.id]] for e in prepared.selector.pool},
            sort_keys=True,
            default=str,
        ),
        "model_id": model_id,
    }
    return {"sha256": fingerprint_digest(settings), "parts": fingerprint_parts(settings)}


def _reads(task: TaskRef, input: str | Path, prepared: PreparedTask) -> dict[str, Path | None]:
    """The files a run reads that its outputs must never be."""
    calibration = prepared.spec.calibration
    return {
        "--input": Path(input),
        "the task file": Path(task) if isinstance(task, str | Path) else None,
        "the calibration file": None if calibration is None else prepared.base_dir / calibration,
    }


def _input_ids(input: str | Path, id_field: str) -> IdSet:
    """The ids of ``input`` (all of it, whatever ``limit``): a resumed output may hold no other."""
    return IdSet(r.id for r in read_records(input, id_field=id_field, keep_bad=True) if r.id)


def _stopped(
    manifest: Path, info: dict[str, Any], runner: Runner, started: bool, exc: BaseException
) -> None:
    """Record why a started run stopped; a run that never started leaves the manifest as
    it was (as its output)."""
    if not started:
        return
    status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped"
    info.update(status=status, error=str(exc) or status, finished_at=_now(), **_totals(runner))
    write_manifest(manifest, info)


def label_on_ray(
    task: TaskRef,
    input: str | Path,
    output: str | Path,
    *,
    address: str | None = None,
    endpoints: Iterable[str] = (),
    actors: int = 2,
    partition_rows: int = 1000,
    resume: bool = False,
    overwrite: bool = False,
    limit: int | None = None,
    cache: str | Path | bool = True,
    overrides: Mapping[str, Any] | None = None,
    on_row: Callable[[RunStats], None] | None = None,
    on_error: OnError = "fail",
    retry_failed: bool = True,
) -> RunResult:
    """``label`` on a Ray cluster (``llmlabel[ray]``; see ``llmlabel.runs.ray``): the same
    rows, resumable by partition of ``partition_rows`` records (``resume`` labels the
    partitions not finished and, unless ``retry_failed`` is False, failed records again).
    ``address``: a running cluster (``"auto"``), else a local one is started; ``endpoints``:
    ``/v1`` URLs serving the task's model, used round-robin, else every actor runs the task's
    own backend."""
    base_dir = Path(task).resolve().parent if isinstance(task, str | Path) else Path.cwd()
    prepared = for_input(load(task, overrides), input)
    if prepared.spec.bootstrap is not None:
        raise ConfigError(
            "`bootstrap:` runs with the local runner", hint="drop --runner ray for this task"
        )
    output = Path(output)
    options = ray_run.RayOptions(address, tuple(endpoints), actors, partition_rows)
    manifest = manifest_path_for(output)
    check_apart({"--output": output, "the manifest": manifest}, _reads(task, input, prepared))
    info = _run_info(
        prepared,
        input,
        output,
        resume,
        runner={"ray": {**vars(options), "endpoints": list(options.endpoints)}},
    )
    # Actors load the model, so the model's identity is its name in the task (model_id "").
    info["fingerprint"] = _fingerprint(prepared, "")
    if resume:
        check_fingerprint(manifest, info["fingerprint"])
    store = None if cache is False else default_cache_path() if cache is True else Path(cache)
    try:
        stats, failed_kept = ray_run.run(
            prepared,
            base_dir,
            input,
            output,
            options=options,
            resume=resume,
            overwrite=overwrite,
            limit=limit,
            cache=store,
            on_error=on_error,
            on_row=on_row,
            retry_failed=retry_failed,
        )
    except BaseException as exc:
        if output.with_name(output.name + ".ray").is_dir():  # the run got as far as its work
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped"
            info.update(status=status, error=str(exc) or status, finished_at=_now())
            write_manifest(manifest, info)
        raise
    first = next((row for _, row in read_rows(output)), None)
    model_id = "" if first is None else str(first.provenance.get("model_id") or "")
    stats.seconds = time.monotonic() - stats.started
    info.update(status="completed", finished_at=_now(), model_id=model_id, totals=stats.as_dict())
    write_manifest(manifest, info)
    return RunResult(output, manifest, stats, model_id=model_id, failed_kept=failed_kept)


def serve_check(
    base_url: str, *, model: str | None = None, api_key_env: str = "OPENAI_API_KEY"
) -> ServeReport:
    """Probe an OpenAI-compatible server (see ``llmlabel.commands.serve_check``): models, ``n``,
    structured-output dialects, logprobs, context; and the ``backend:`` llmlabel would use."""
    return _serve_check(base_url, model=model, api_key_env=api_key_env)


def iter_output(path: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of an output file as written (a partial last line from a killed run is skipped),
    each checked against ``llmlabel.core.row.Row``: a malformed row is an ``InputError`` that
    names its line and field."""
    return (row.dump() for _, row in read_rows(path))


def _totals(runner: Runner) -> dict[str, Any]:
    return {"totals": runner.stats.as_dict()}


def _run_info(
    prepared: PreparedTask, input: str | Path, output: Path, resume: bool, **extra: Any
) -> dict[str, Any]:
    """The manifest of a run as it starts (totals and the end are added when it stops)."""
    return {
        "status": "running",
        "started_at": _now(),
        "input": str(input),
        "output": str(output),
        "task": prepared.spec.model_dump(mode="json", by_alias=True),
        "template": {"name": prepared.renderer.name, "hash": prepared.renderer.hash},
        **extra,
        "resumed": resume,
        "environment": environment_info(),
    }


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def count_records(source: str | Path, limit: int | None = None) -> int | None:
    """Cheap record count for progress bars: JSONL lines or Parquet metadata; else unknown."""
    path = Path(source)
    total: int | None = None
    if path.suffix in (".jsonl", ".ndjson") and path.is_file():
        with path.open("rb") as fh:
            total = sum(1 for line in fh if line.strip())
    elif path.suffix == ".parquet" and path.is_file():
        import pyarrow.parquet as pq

        try:
            total = int(pq.ParquetFile(path).metadata.num_rows)
        except (OSError, ValueError):  # not Parquet, or too deep: the reader says so in one line
            total = None
    if total is not None and limit is not None:
        return min(total, limit)
    return limit if total is None else total
