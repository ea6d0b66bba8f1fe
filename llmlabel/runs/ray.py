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
and are removed when the output is complete. This module is ``run`` and the driver's loop over
the actors' rows; the work folder (staging, partition files, the join) is ``runs.ray_parts``,
the actor and the cluster ``runs.ray_actor``.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmlabel.core.row import Row
from llmlabel.core.spec import TaskSpec
from llmlabel.io.readers import InputRecord, read_records
from llmlabel.runs.committee import first_records
from llmlabel.runs.local import OnError, first_wanted
from llmlabel.runs.ray_actor import LabelActor, cluster, import_ray, rebuild
from llmlabel.runs.ray_parts import (
    BATCH_ROWS,
    PARTITION_ROWS,
    Partitions,
    join,
    part_file,
    prepare_output,
    stage,
    write_part,
)
from llmlabel.runs.stats import RunStats, count_row
from llmlabel.task import PreparedTask, load

ACTOR_CPUS = 0.5
"""CPUs reserved per actor: actors wait on servers, and whole-CPU actors beside Ray's read
tasks hang a 2-CPU node (shared/INTEGRATIONS.md)."""


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
    prepare_output(output, work, plan, resume, overwrite, retry_failed)
    stats = RunStats()
    partitions = stage(task, input, limit, work, options.partition_rows, on_error, stats,
                       retry_failed)  # fmt: skip
    if partitions.pending:
        first = []  # opening the input is not free (a Hub dataset, Parquet): only when read
        if first_wanted(task):
            records = read_records(input, id_field=task.spec.id_field, limit=limit, keep_bad=True)
            first = first_records(task, records)
        _label(task, base_dir, work, partitions, options, cache, on_error, stats, on_row, first)
    join(work / "parts", sorted(partitions.sizes), output)
    shutil.rmtree(work, ignore_errors=True)
    return stats, partitions.failed_kept


def _as_openai_compat(spec: TaskSpec) -> TaskSpec:
    backend = spec.backend.model_copy(update={"type": "openai_compat"})
    return spec.model_copy(update={"backend": backend})


def _label(
    task: PreparedTask,
    base_dir: Path,
    work: Path,
    partitions: Partitions,
    options: RayOptions,
    cache: Path | None,
    on_error: OnError,
    stats: RunStats,
    on_row: Callable[[RunStats], None] | None,
    first: list[InputRecord],
) -> None:
    ray = import_ray()
    pending = [int(p.stem.rsplit("-", 1)[1]) for p in partitions.pending]
    rows = sum(partitions.expected[part] for part in pending)
    # Blocks are what Ray spreads over actors: at least a few per actor on a small input.
    blocks = max(len(pending), min(-(-rows // options.batch_rows), 4 * options.actors))
    with cluster(ray, options.address):
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # progress is on_row's
        # The folder, not a list of files: Ray lists a list on threads that race on an
        # optional import (fsspec's http module without aiohttp) and fail.
        dataset = ray.data.read_parquet(
            str(work / "input"), override_num_blocks=blocks
        ).map_batches(
            LabelActor,
            fn_constructor_kwargs={
                "spec": task.spec,
                "base_dir": str(base_dir),
                "endpoints": options.endpoints,
                "cache": None if cache is None else str(cache),
                "on_error": on_error,
                "first": first,
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
                raise rebuild(out["error"])
            part, line = int(out["part"]), bytes(out["row"])
            gathered[part].append((int(out["pos"]), line))
            if out["stats"]:
                _add_counts(stats, json.loads(out["stats"]))
            count_row(stats, Row.model_validate(json.loads(line)), label_totals=label_totals)
            if on_row is not None:
                on_row(stats)
            if len(gathered[part]) == partitions.expected[part]:
                kept = partitions.kept.pop(part, [])
                write_part(part_file(work, part), kept + gathered.pop(part))


def _add_counts(stats: RunStats, counts: dict[str, int]) -> None:
    stats.requests += counts["requests"]
    stats.cache_hits += counts["cache_hits"]
    stats.reasks += counts["reasks"]
