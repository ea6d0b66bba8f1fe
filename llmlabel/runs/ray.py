"""``llmlabel run --runner ray``: the local per-record pipeline, spread over a Ray cluster.

The driver streams the input with llmlabel's own readers (so ids, ``where`` and bad lines are
the local runner's), checks what needs the whole input (repeated ids; with ``on_error="fail"``
every bad record, before anything is spent) and stages the records as Parquet partitions of
``partition_rows``. Ray Data reads them (``read_parquet``) and ``map_batches`` hands batches to
a pool of actors. Each actor holds its own backend (one ``openai_compat`` client per endpoint,
round-robin, or an embedded model) and request cache, and labels a batch with the local
runner: render → request → validate → vote → row is the same code. The driver gathers
each partition's rows and writes the partition's file atomically once it is complete, so a
rerun with ``resume`` labels only partitions without one (and, with ``retry_failed``, the
``failed`` records of those with one); at the end the partitions are joined, in input order,
into the one JSONL output every other command reads. A finished partition whose rows do not
match its records, id for id, is refused: it belongs to another input.

Work files live in ``<output>.ray/`` (``input/`` staged partitions, ``parts/`` finished ones)
and are removed when the output is complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import shutil
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmlabel.backends import make_backend
from llmlabel.backends.base import Backend
from llmlabel.backends.pool import openai_pool
from llmlabel.core.idset import IdSet
from llmlabel.core.row import Row
from llmlabel.core.spec import TaskSpec
from llmlabel.errors import InputError, LLMLabelError, OutputError
from llmlabel.io.cache import NullCache, RequestCache
from llmlabel.io.readers import InputRecord, check_fields, read_records
from llmlabel.io.sink import ListSink, encode_row
from llmlabel.runs.committee import make_runner
from llmlabel.runs.local import SKIP_HINT, OnError, duplicate_error
from llmlabel.runs.stats import RunStats, count_row
from llmlabel.task import PreparedTask, load

PARTITION_ROWS = 1000
"""Records per partition: the unit of resume (a partition is labeled again or not at all)."""
BATCH_ROWS = 64
"""Records per actor call; Ray keeps up to 4 calls in flight per actor."""
ACTOR_CPUS = 0.5
"""CPUs reserved per actor: actors wait on servers, and whole-CPU actors beside Ray's read
tasks hang a 2-CPU node (shared/INTEGRATIONS.md)."""
_PLAN = "plan.json"


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run. ``address``: a running cluster (``"auto"``, ``ray://...``),
    or None to start a local one; ``endpoints``: ``/v1`` URLs of replicas serving the task's
    model (round-robin per request), or none for the task's own backend in every actor."""

    address: str | None = None
    endpoints: tuple[str, ...] = ()
    actors: int = 2
    partition_rows: int = PARTITION_ROWS
    batch_rows: int = BATCH_ROWS


@dataclass
class _Partitions:
    sizes: dict[int, int]
    """Records per partition, for every partition of the input."""
    pending: list[Path]
    """Staged Parquet files of the partitions still to label."""
    expected: dict[int, int] = field(default_factory=dict)
    """Rows to gather per pending partition: all of it, or only its failed records."""
    kept: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)
    """Rows (position, line) of a finished partition kept while its failed ones are retried."""
    failed_kept: int = 0
    """Failed rows of finished partitions left as they are (``retry_failed=False``)."""


def run(
    task: PreparedTask,
    base_dir: Path,
    input: str | Path,
    output: Path,
    *,
    options: RayOptions,
    resume: bool,
    overwrite: bool,
    limit: int | None,
    cache: Path | None,
    on_error: OnError,
    on_row: Callable[[RunStats], None] | None = None,
    retry_failed: bool = True,
) -> tuple[RunStats, int]:
    """Label ``input`` into ``output`` on Ray; ``task`` must come from ``load(spec,
    base_dir=base_dir)`` (the actors load it again from the same spec and folder). Returns the run's
    counts and the failed rows kept from the run it resumed (``retry_failed=False``)."""
    if options.endpoints and task.spec.backend.type != "openai_compat":
        task = load(_as_openai_compat(task.spec), base_dir=base_dir)
    work = output.with_name(output.name + ".ray")
    plan = {"input": str(input), "partition_rows": options.partition_rows}
    _prepare_output(output, work, plan, resume, overwrite, retry_failed)
    stats = RunStats()
    partitions = _stage(task, input, limit, work, options.partition_rows, on_error, stats,
                        retry_failed)  # fmt: skip
    if partitions.pending:
        _label(task, base_dir, work, partitions, options, cache, on_error, stats, on_row)
    _join(work / "parts", sorted(partitions.sizes), output)
    shutil.rmtree(work, ignore_errors=True)
    return stats, partitions.failed_kept


def _as_openai_compat(spec: TaskSpec) -> TaskSpec:
    backend = spec.backend.model_copy(update={"type": "openai_compat"})
    return spec.model_copy(update={"backend": backend})


def _prepare_output(
    output: Path,
    work: Path,
    plan: dict[str, Any],
    resume: bool,
    overwrite: bool,
    retry_failed: bool,
) -> None:
    where = str(output)
    if resume and overwrite:
        raise OutputError("--resume and --overwrite exclude each other", where=where)
    if output.is_dir():
        raise OutputError("output is a folder", where=where, hint="give a .jsonl file path")
    if overwrite:
        shutil.rmtree(work, ignore_errors=True)
    elif resume and not work.is_dir() and output.exists():
        failed = _failed_rows(output)
        if not (failed and retry_failed):
            held = f"; its {failed} failed row(s) are kept (--no-retry-failed)" if failed else ""
            raise OutputError(
                f"nothing to resume: the output is complete (its Ray work folder is gone){held}",
                where=where,
                hint="use --overwrite to label again",
            )
        _reopen(output, work / "parts", plan["partition_rows"])
    elif resume and work.is_dir():
        earlier = json.loads((work / _PLAN).read_text()) if (work / _PLAN).exists() else None
        if earlier != plan:
            raise OutputError(
                f"{work} was made for {earlier}, not {plan}",
                where=where,
                hint="resume with the same input and partition size, or use --overwrite",
            )
    elif output.exists() or work.exists():
        raise OutputError(
            "output exists",
            where=where,
            hint="use --resume to continue it or --overwrite to replace it",
        )
    (work / "parts").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "input", ignore_errors=True)
    (work / "input").mkdir()
    (work / _PLAN).write_text(json.dumps(plan))


def _failed_rows(output: Path) -> int:
    with output.open("rb") as fh:
        return sum(_status(line) == "failed" for line in fh)


def _status(line: bytes) -> Any:
    try:
        return json.loads(line).get("status")
    except (json.JSONDecodeError, AttributeError):
        return None


def _reopen(output: Path, parts: Path, partition_rows: int) -> None:
    """Split a finished output back into partition files (its rows are in input order, one
    per record), so that resuming retries its failed rows; the output stays until the join."""
    parts.mkdir(parents=True)
    with output.open("rb") as fh:
        part, lines = 0, []
        for line in fh:
            lines.append(line)
            if len(lines) == partition_rows:
                _write_part(_part_file(parts.parent, part), list(enumerate(lines)))
                part, lines = part + 1, []
        if lines:
            _write_part(_part_file(parts.parent, part), list(enumerate(lines)))


def _stage(
    task: PreparedTask,
    input: str | Path,
    limit: int | None,
    work: Path,
    partition_rows: int,
    on_error: OnError,
    stats: RunStats,
    retry_failed: bool,
) -> _Partitions:
    """Split the input into partitions; stage (as Parquet) those not labeled yet, and the
    failed records of those labeled (``retry_failed``)."""
    partitions = _Partitions(sizes={}, pending=[])
    spec = task.spec
    records = read_records(input, id_field=spec.id_field, limit=limit, keep_bad=True)
    seen = IdSet()
    batch: list[InputRecord] = []

    def flush() -> None:
        part = len(partitions.sizes)
        partitions.sizes[part] = len(batch)
        staged = list(enumerate(batch))
        done = _part_file(work, part)
        if done.exists():
            lines = _finished(done, batch)
            failed = [pos for pos, line in enumerate(lines) if _status(line) == "failed"]
            if not retry_failed:
                partitions.failed_kept += len(failed)
                failed = []
            stats.skipped += len(batch) - len(failed)
            if failed:
                retried = set(failed)
                partitions.kept[part] = [(p, x) for p, x in enumerate(lines) if p not in retried]
            staged = [(pos, batch[pos]) for pos in failed]
        if staged:
            partitions.expected[part] = len(staged)
            partitions.pending.append(_write_staged(work, part, staged))
        batch.clear()

    for record in records:
        stats.records += 1
        batch.append(_checked(record, seen, spec.fields, on_error))
        if len(batch) == partition_rows:
            flush()
    if batch:
        flush()
    return partitions


def _finished(path: Path, records: list[InputRecord]) -> list[bytes]:
    """A finished partition's rows, refused unless they are its records', one for one."""
    lines = path.read_bytes().splitlines(keepends=True)
    hint = "the work folder belongs to another input or was edited; use --overwrite"
    if len(lines) != len(records):
        raise OutputError(
            f"{len(lines)} rows for a partition of {len(records)} records", where=str(path),
            hint=hint,
        )  # fmt: skip
    for number, (line, record) in enumerate(zip(lines, records, strict=True), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            raise OutputError("not a JSON row", where=f"{path}:{number}", hint=hint)
        mine = row.get("where") == record.where if "where" in row else row.get("id") == record.id
        if not mine or row.get("status") is None:
            raise OutputError(
                f"row id {row.get('id')!r} where the input has {record.id!r} ({record.where})",
                where=f"{path}:{number}",
                hint=hint,
            )
    return lines


def _checked(record: InputRecord, seen: IdSet, fields: list[str], on_error: OnError) -> InputRecord:
    """The checks the local runner makes as records stream in: with ``"fail"`` the first bad
    record stops the run here, before any labeling; with ``"skip"`` a repeated id (which only
    the whole input shows) is marked so the actor writes its ``skipped`` row."""
    error = record.error
    if error is None and record.id in seen:
        error = duplicate_error(record)
        record = InputRecord(record.id, record.data, record.where, error)
    elif error is None:
        seen.add(record.id)
        if on_error == "fail":
            check_fields(record, fields)  # the InputError is the runner's own (hint aside)
    if error is not None and on_error == "fail":
        hint = f"{error.hint}; {SKIP_HINT}" if error.hint else SKIP_HINT
        raise InputError(error.message, where=error.where, hint=hint)
    return record


def _pack(record: InputRecord) -> bytes:
    error = record.error
    state = None if error is None else (error.message, error.where, error.hint)
    return pickle.dumps((record.id, record.data, record.where, state))


def _unpack(blob: bytes) -> InputRecord:
    record_id, data, where, state = pickle.loads(blob)
    error = None if state is None else InputError(state[0], where=state[1], hint=state[2])
    return InputRecord(record_id, data, where, error)


def _write_staged(work: Path, part: int, staged: list[tuple[int, InputRecord]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "part": pa.array([part] * len(staged), pa.int32()),
            "pos": pa.array([pos for pos, _ in staged], pa.int32()),
            "record": pa.array([_pack(record) for _, record in staged], pa.binary()),
        }
    )
    path = work / "input" / f"part-{part:06d}.parquet"
    pq.write_table(table, path, row_group_size=BATCH_ROWS)  # Ray can split at row groups
    return path


def _part_file(work: Path, part: int) -> Path:
    return work / "parts" / f"part-{part:06d}.jsonl"


def _label(
    task: PreparedTask,
    base_dir: Path,
    work: Path,
    partitions: _Partitions,
    options: RayOptions,
    cache: Path | None,
    on_error: OnError,
    stats: RunStats,
    on_row: Callable[[RunStats], None] | None,
) -> None:
    ray = _import_ray()
    pending = [int(p.stem.rsplit("-", 1)[1]) for p in partitions.pending]
    rows = sum(partitions.expected[part] for part in pending)
    # Blocks are what Ray spreads over actors: at least a few per actor on a small input.
    blocks = max(len(pending), min(-(-rows // options.batch_rows), 4 * options.actors))
    with _cluster(ray, options.address):
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # progress is on_row's
        # The folder, not a list of files: Ray lists a list on threads that race on an
        # optional import (fsspec's http module without aiohttp) and fail.
        dataset = ray.data.read_parquet(
            str(work / "input"), override_num_blocks=blocks
        ).map_batches(
            _LabelActor,
            fn_constructor_kwargs={
                "spec": task.spec,
                "base_dir": str(base_dir),
                "endpoints": options.endpoints,
                "cache": None if cache is None else str(cache),
                "on_error": on_error,
            },
            compute=ray.data.ActorPoolStrategy(size=options.actors),
            num_cpus=ACTOR_CPUS,
            batch_size=options.batch_rows,
        )
        gathered: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
        label_totals = bool(task.labels)
        warnings.filterwarnings("ignore", "The minimum number of concurrent actors")  # tiny inputs
        for out in dataset.iter_rows():
            if out["error"]:
                raise _rebuild(out["error"])
            part, line = int(out["part"]), bytes(out["row"])
            gathered[part].append((int(out["pos"]), line))
            if out["stats"]:
                _add_counts(stats, json.loads(out["stats"]))
            count_row(stats, Row.model_validate(json.loads(line)), label_totals=label_totals)
            if on_row is not None:
                on_row(stats)
            if len(gathered[part]) == partitions.expected[part]:
                kept = partitions.kept.pop(part, [])
                _write_part(_part_file(work, part), kept + gathered.pop(part))


def _add_counts(stats: RunStats, counts: dict[str, int]) -> None:
    stats.requests += counts["requests"]
    stats.cache_hits += counts["cache_hits"]
    stats.reasks += counts["reasks"]


def _write_part(path: Path, rows: list[tuple[int, bytes]]) -> None:
    """The partition's rows in input order, under their final name only once all written."""
    rows.sort(key=lambda item: item[0])
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.writelines(line for _, line in rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _join(parts: Path, order: list[int], output: Path) -> None:
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        with tmp.open("wb") as fh:
            for part in order:
                with (parts / f"part-{part:06d}.jsonl").open("rb") as src:
                    shutil.copyfileobj(src, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, output)
    except OSError as exc:
        raise OutputError(
            f"cannot write the output: {exc.strerror or exc}",
            where=str(output),
            hint="check free space; the labeled partitions are kept, rerun with --resume",
        ) from None


class _LabelActor:
    """A Ray Data actor: its own backend and cache, each batch labeled by the local Runner."""

    def __init__(
        self,
        spec: TaskSpec,
        base_dir: str,
        endpoints: tuple[str, ...],
        cache: str | None,
        on_error: OnError,
    ) -> None:
        self._task = load(spec, base_dir=base_dir)
        self._endpoints = endpoints
        self._cache_path = cache
        self._on_error = on_error
        # Made on the first call: Ray runs the calls on its own event loop thread, and both the
        # HTTP client and the SQLite connection belong to the thread that first uses them.
        self._backend: Backend | None = None
        self._cache: RequestCache | NullCache | None = None

    async def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        try:
            return await self._label(batch)
        except LLMLabelError as exc:
            # Sent back as data: Ray would wrap the exception twice and drop its hint.
            error = pickle.dumps((type(exc), vars(exc)))
            return {"part": [-1], "pos": [-1], "row": [b""], "stats": [""], "error": [error]}

    async def _label(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        backend, cache = self._open()
        records = [_unpack(blob) for blob in batch["record"]]
        sink = ListSink()
        runner = make_runner(self._task, backend, cache, sink, on_error=self._on_error)
        try:
            await runner.run(records)
        finally:
            cache.flush()
        by_where = {row["where"]: row for row in sink.rows if "where" in row}
        by_id = {row["id"]: row for row in sink.rows if "where" not in row}
        rows = [by_where.get(r.where) or by_id[r.id] for r in records]
        counts = {k: getattr(runner.stats, k) for k in ("requests", "cache_hits", "reasks")}
        return {
            "part": list(batch["part"]),
            "pos": list(batch["pos"]),
            "row": [encode_row(row) for row in rows],
            "stats": [json.dumps(counts)] + [""] * (len(rows) - 1),
            "error": [b""] * len(rows),
        }

    def _open(self) -> tuple[Backend, RequestCache | NullCache]:
        if self._backend is None or self._cache is None:
            spec = self._task.spec
            if self._endpoints:
                start = os.getpid()  # actors begin on different replicas
                self._backend = openai_pool(spec.backend, self._endpoints, start=start)
            else:
                self._backend = make_backend(spec)
            path = self._cache_path
            self._cache = NullCache() if path is None else RequestCache.open(path)
        return self._backend, self._cache


def _rebuild(blob: bytes) -> LLMLabelError:
    """The llmlabel error an actor sent back, as it was raised there."""
    cls, state = pickle.loads(blob)
    error: LLMLabelError = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error.one_line())
    return error


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise LLMLabelError(
            "--runner ray needs Ray Data, which is not installed",
            hint="pip install 'llmlabel[ray]'",
        ) from exc
    return ray


@contextlib.contextmanager
def _cluster(ray: Any, address: str | None) -> Iterator[None]:
    """Connect to ``address``, or start a private local cluster (stopped afterwards). A
    session already connected in this process is used as it is."""
    if ray.is_initialized():
        yield
        return
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # the core worker's own log lines
    quiet = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": False}
    if address is not None:
        ray.init(address=address, **quiet)
        try:
            yield
        finally:
            ray.shutdown()
        return
    # A local cluster of our own: no token file in ~/.ray, temp files in a folder we remove.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    temp = tempfile.mkdtemp(prefix="llmlabel-ray-")
    try:
        ray.init(
            num_cpus=os.cpu_count() or 1, _node_ip_address="127.0.0.1", _temp_dir=temp, **quiet
        )
        try:
            yield
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(temp, ignore_errors=True)
