"""Records into the runner's queue: each record read is counted, then rejected (unreadable,
a repeated id, missing fields), passed over (its row is in the output a resume continues), or
queued for the workers; ``shortlist:`` records wait in batches of ``SHORTLIST_BATCH`` so their
shortlists are embedded in one call. Memory stays flat: ids are kept in an ``IdSet``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container, Iterable

from llmlabel.core.idset import IdSet
from llmlabel.errors import InputError
from llmlabel.io.readers import InputRecord, check_fields
from llmlabel.runs.stats import RunStats
from llmlabel.task import PreparedTask

SHORTLIST_BATCH = 64
"""Records whose shortlists are embedded in one call (``shortlist:`` tasks)."""

Reject = Callable[[InputRecord, str | None, InputError], None]
"""The runner's answer to a record that cannot be labeled: stop, or write its skipped row."""


async def feed(
    records: Iterable[InputRecord],
    queue: asyncio.Queue[InputRecord | None],
    task: PreparedTask,
    stats: RunStats,
    done_ids: Container[str],
    shortlists: dict[str, list[str]],
    reject: Reject,
    stopped: Callable[[], bool],
) -> None:
    """Queue the records to label; ``shortlists`` gets the shortlist of each queued record
    of a ``shortlist:`` task. Stops feeding once ``stopped()`` (a worker failed)."""
    seen = IdSet()  # flat memory over millions of records
    batch: list[InputRecord] = []  # ``shortlist:``: records waiting for their shortlists
    for record in records:
        if stopped():
            return
        if len(batch) >= SHORTLIST_BATCH:
            await put_shortlisted(batch, queue, task, shortlists)
            batch = []
        stats.records += 1
        if record.error is not None or record.id in seen:
            reject(record, None, record.error or duplicate_error(record))
            continue
        seen.add(record.id)
        if task.spec.id_field not in record.data:
            stats.numbered += 1
            stats.id_field = task.spec.id_field
        stats.unkept.update(f for f in task.spec.keep_fields if f not in record.data)
        if record.id in done_ids:
            stats.skipped += 1
            continue
        try:
            check_fields(record, task.spec.fields)
        except InputError as exc:
            reject(record, record.id, exc)
            continue
        if task.shortlister is not None:
            batch.append(record)
            continue
        await queue.put(record)
    if batch and not stopped():
        await put_shortlisted(batch, queue, task, shortlists)


async def put_shortlisted(
    batch: list[InputRecord],
    queue: asyncio.Queue[InputRecord | None],
    task: PreparedTask,
    shortlists: dict[str, list[str]],
) -> None:
    """Queue ``batch`` with its shortlists embedded in one call."""
    found = task.shortlists([(record.id, record.data) for record in batch])
    for record, shortlist in zip(batch, found, strict=True):
        shortlists[record.id] = shortlist
        await queue.put(record)


def duplicate_error(record: InputRecord) -> InputError:
    return InputError(
        f"duplicate id '{record.id}'",
        where=record.where,
        hint="ids must be unique (set `id_field:` in the task file)",
    )
