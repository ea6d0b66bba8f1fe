"""The work folder of ``--runner ray`` (``<output>.ray/``): the input staged as Parquet
partitions, the finished partitions' rows, and the join into the one output.

``prepare_output`` checks what ``--resume`` / ``--overwrite`` allow and writes the plan;
``stage`` streams the input once, with the local runner's checks (repeated ids; with
``on_error="fail"`` every bad record, before anything is spent), and stages the partitions (or
the failed records of finished ones) still to label; ``write_part`` writes a partition's rows
atomically once all are in, so a rerun labels only partitions without a file; ``join`` writes
them, in input order, into the output. A finished partition whose rows do not match its
records, id for id, is refused: it belongs to another input.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmlabel.core.idset import IdSet
from llmlabel.errors import InputError, OutputError
from llmlabel.io.readers import InputRecord, check_fields, read_records
from llmlabel.runs.feeding import duplicate_error
from llmlabel.runs.local import SKIP_HINT, OnError
from llmlabel.runs.stats import RunStats
from llmlabel.task import PreparedTask

PARTITION_ROWS = 1000
"""Records per partition: the unit of resume (a partition is labeled again or not at all)."""
BATCH_ROWS = 64
"""Records per actor call; Ray keeps up to 4 calls in flight per actor. Staged partitions have
row groups of this size, so Ray can split them there."""
_PLAN = "plan.json"


@dataclass
class Partitions:
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


def prepare_output(
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
                write_part(part_file(parts.parent, part), list(enumerate(lines)))
                part, lines = part + 1, []
        if lines:
            write_part(part_file(parts.parent, part), list(enumerate(lines)))


def stage(
    task: PreparedTask,
    input: str | Path,
    limit: int | None,
    work: Path,
    partition_rows: int,
    on_error: OnError,
    stats: RunStats,
    retry_failed: bool,
) -> Partitions:
    """Split the input into partitions; stage (as Parquet) those not labeled yet, and the
    failed records of those labeled (``retry_failed``)."""
    partitions = Partitions(sizes={}, pending=[])
    spec = task.spec
    records = read_records(input, id_field=spec.id_field, limit=limit, keep_bad=True)
    seen = IdSet()
    batch: list[InputRecord] = []

    def flush() -> None:
        part = len(partitions.sizes)
        partitions.sizes[part] = len(batch)
        staged = list(enumerate(batch))
        done = part_file(work, part)
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


def pack(record: InputRecord) -> bytes:
    error = record.error
    state = None if error is None else (error.message, error.where, error.hint)
    return pickle.dumps((record.id, record.data, record.where, state))


def unpack(blob: bytes) -> InputRecord:
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
            "record": pa.array([pack(record) for _, record in staged], pa.binary()),
        }
    )
    path = work / "input" / f"part-{part:06d}.parquet"
    pq.write_table(table, path, row_group_size=BATCH_ROWS)  # Ray can split at row groups
    return path


def part_file(work: Path, part: int) -> Path:
    return work / "parts" / f"part-{part:06d}.jsonl"


def write_part(path: Path, rows: list[tuple[int, bytes]]) -> None:
    """The partition's rows in input order, under their final name only once all written."""
    rows.sort(key=lambda item: item[0])
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.writelines(line for _, line in rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def join(parts: Path, order: list[int], output: Path) -> None:
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
