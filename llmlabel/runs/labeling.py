"""Labeling below the commands: in-memory records through the runner, and what every labeling
entry point shares (``RunResult`` and two helpers; ``llmlabel.api`` labels files,
``llmlabel.runs.bootstrap`` passes of a file, ``llmlabel.commands.compare`` variants), so
that no command imports another."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlabel.backends import make_backend
from llmlabel.backends.base import Backend
from llmlabel.core.spec import TaskSpec
from llmlabel.io.cache import NullCache, RequestCache, default_cache_path
from llmlabel.io.readers import InputRecord
from llmlabel.io.sink import ListSink
from llmlabel.runs.committee import make_runner
from llmlabel.runs.local import Runner
from llmlabel.runs.stats import RunStats
from llmlabel.task import load

TaskRef = str | Path | Mapping[str, Any] | TaskSpec
"""A task as ``llmlabel.task.load`` takes it: a task file, a dict as its YAML would be, a spec."""


@dataclass
class RunResult:
    output: Path
    manifest: Path
    stats: RunStats
    model_id: str = ""
    failed_kept: int = 0
    """Failed rows of the resumed run kept in the output (``retry_failed=False``)."""

    @property
    def failed(self) -> int:
        """Failed rows in the output: this run's and those kept from the one it resumed."""
        return self.stats.failed + self.failed_kept


def label_records(
    task: TaskRef,
    records: Iterable[Mapping[str, Any]],
    *,
    overrides: Mapping[str, Any] | None = None,
    cache: str | Path | bool = True,
    backend: Backend | None = None,
) -> list[dict[str, Any]]:
    """Label in-memory records (dicts) and return the rows in input order."""
    prepared = load(task, overrides)
    id_field = prepared.spec.id_field
    inputs = [
        InputRecord(id=str(r.get(id_field, i)), data=dict(r), where=f"record {i}")
        for i, r in enumerate(records)
    ]
    sink = ListSink()
    live = backend or make_backend(prepared.spec)
    store = open_cache(cache)
    try:
        runner = make_runner(prepared, live, store, sink)
        asyncio.run(run_closing(runner, inputs, live if backend is None else None))
    finally:
        store.close()
    by_id = {row["id"]: row for row in sink.rows}
    return [by_id[r.id] for r in inputs]


async def run_closing(
    runner: Runner, records: Iterable[InputRecord], owned: Backend | None
) -> RunStats:
    """Run ``runner`` over ``records``, then close ``owned`` (a backend this run made)."""
    try:
        return await runner.run(records)
    finally:
        if owned is not None:
            await owned.aclose()


def open_cache(cache: str | Path | bool) -> RequestCache | NullCache:
    """``cache``: True for the default SQLite cache, a path, or False for none."""
    if cache is False:
        return NullCache()
    return RequestCache.open(default_cache_path() if cache is True else Path(cache))
