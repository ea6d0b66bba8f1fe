"""Labeling from Python and notebooks: a labeler that keeps its model loaded between calls.

``Labeler(task)`` prepares the task once and runs every call on an event loop of its own, in a
background thread that holds the backend (an embedded model stays loaded) and the request
cache. So the sync ``label`` works the same in a script and inside a running event loop (a
Jupyter cell), and ``alabel`` awaits it without blocking the caller's loop. ``close`` (or the
``with`` block) frees the model.

Records come as a list of dicts, a pandas DataFrame, a ``datasets.Dataset`` or a path (JSONL,
CSV, Parquet); the result is of the same kind (a list of dicts for a path) with the columns
``label``, ``confidence``, ``probs`` (where the task has label probabilities) and ``status``
added (``error`` too, for rows that are not labeled). Rows are matched to records by position.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from llmlabel.backends import make_backend
from llmlabel.backends.base import Backend
from llmlabel.core.spec import TaskSpec
from llmlabel.errors import ConfigError
from llmlabel.io.cache import NullCache, RequestCache
from llmlabel.io.readers import InputRecord, read_records
from llmlabel.io.sink import ListSink
from llmlabel.runs.committee import first_records, make_runner
from llmlabel.runs.labeling import open_cache
from llmlabel.runs.stats import RunStats
from llmlabel.task import PreparedTask, load

COLUMNS = ("label", "confidence", "probs", "status", "error")
T = TypeVar("T")


class Labeler:
    """A task ready to label in-memory data, its backend kept open across calls.

    ``task``: a task file path, a dict (as the YAML would be) or a ``TaskSpec``;
    ``overrides``: dotted keys (``{"samples": 3}``); ``cache``: True (the default SQLite cache),
    a path, or False; ``backend``: one you made (not closed by ``close``); ``progress``: a tqdm
    bar per call (a widget in Jupyter where ipywidgets is installed, else text on stderr)."""

    def __init__(
        self,
        task: str | Path | Mapping[str, Any] | TaskSpec,
        *,
        overrides: Mapping[str, Any] | None = None,
        cache: str | Path | bool = True,
        backend: Backend | None = None,
        progress: bool = True,
    ) -> None:
        self.task: PreparedTask = load(task, overrides)
        self.progress = progress
        self._cache_setting = cache
        self._given = backend
        self._backend: Backend | None = backend
        self._cache: RequestCache | NullCache | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._closed = False
        self._first: list[InputRecord] | None = None
        """The first call's first records: every call's label lines (``describe_labels``) and
        prior (``bias_correction: pool``) come from them, so calls agree."""

    def label(self, data: Any) -> Any:
        """Label ``data``; the result is of the same kind with the prediction columns added."""
        return self._call(self._label(data)).result()

    async def alabel(self, data: Any) -> Any:
        """``label`` for async code: awaits the labeler's loop without blocking the caller's."""
        return await asyncio.wrap_future(self._call(self._label(data)))

    def close(self) -> None:
        """Close the backend this labeler made (frees an embedded model) and stop its loop."""
        if self._closed:
            return
        self._closed = True
        asyncio.run_coroutine_threadsafe(self._aclose(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Labeler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        if self._closed:
            coro.close()
            raise ConfigError("this Labeler is closed", hint="make a new one")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _label(self, data: Any) -> Any:
        records, rebuild = _records(data)
        backend, cache = self._open()
        sink = ListSink()
        inputs = [InputRecord(str(i), r, f"record {i}") for i, r in enumerate(records)]
        bar = progress_bar(len(inputs)) if self.progress else None

        def on_row(stats: RunStats) -> None:
            if bar is not None:
                bar.set_postfix(labeled=stats.labeled, failed=stats.failed, refresh=False)
                bar.update(stats.done - bar.n)

        if self._first is None:
            self._first = first_records(self.task, inputs)
        runner = make_runner(self.task, backend, cache, sink, on_row=on_row, on_error="skip",
                             first=self._first)  # fmt: skip
        try:
            await runner.run(inputs)
        finally:
            if bar is not None:
                bar.close()
        cache.flush()
        by_id = {row["id"]: row for row in sink.rows if row.get("id") is not None}
        by_where = {row["where"]: row for row in sink.rows if "where" in row}
        rows = [by_where.get(r.where) or by_id[r.id] for r in inputs]
        return rebuild([_predicted(row) for row in rows])

    def _open(self) -> tuple[Backend, RequestCache | NullCache]:
        """Made on the labeler's thread, which the HTTP client and SQLite connection need."""
        if self._backend is None:
            self._backend = make_backend(self.task.spec)
        if self._cache is None:
            self._cache = open_cache(self._cache_setting)
        return self._backend, self._cache

    async def _aclose(self) -> None:
        if self._cache is not None:
            self._cache.close()
        if self._backend is not None and self._given is None:
            await self._backend.aclose()
        self._backend = self._cache = None


async def alabel(
    task: str | Path | Mapping[str, Any] | TaskSpec,
    data: Any,
    *,
    overrides: Mapping[str, Any] | None = None,
    cache: str | Path | bool = True,
) -> Any:
    """Label ``data`` once from async code (a notebook cell: ``await llmlabel.alabel(...)``);
    use a ``Labeler`` to keep the model loaded across calls."""
    labeler = Labeler(task, overrides=overrides, cache=cache)
    try:
        return await labeler.alabel(data)
    finally:
        await asyncio.get_running_loop().run_in_executor(None, labeler.close)


def progress_bar(total: int) -> Any:
    """A tqdm bar: the notebook widget where ipywidgets is there, else text on stderr."""
    try:
        import ipywidgets  # noqa: F401  (tqdm.auto warns and falls back without it)
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    return tqdm(total=total, desc="labeling", unit="record", dynamic_ncols=True)


def _records(data: Any) -> tuple[list[dict[str, Any]], Any]:
    """The records of ``data`` and how to give predictions back in its kind."""
    if isinstance(data, (str, Path)):
        found = list(read_records(data))
        return [r.data for r in found], lambda predicted: _merged(
            [r.data for r in found], predicted
        )
    kind = type(data).__module__.split(".")[0]
    if kind == "pandas":
        records = data.to_dict("records")
        _check_free(data.columns)

        def frame(predicted: list[dict[str, Any]]) -> Any:
            out = data.copy()
            for column in COLUMNS:
                out[column] = [p.get(column) for p in predicted]
            return out

        return records, frame
    if kind == "datasets":
        records = data.to_list()
        _check_free(data.column_names)
        return records, lambda predicted: type(data).from_list(_merged(records, predicted))
    if isinstance(data, Iterable) and not isinstance(data, Mapping):
        records = [dict(r) for r in data]
        for record in records[:1]:
            _check_free(record)
        return records, lambda predicted: _merged(records, predicted)
    raise ConfigError(
        f"cannot label a {type(data).__name__}",
        hint="pass a list of dicts, a pandas DataFrame, a datasets.Dataset or a file path",
    )


def _check_free(columns: Iterable[str]) -> None:
    taken = [c for c in COLUMNS if c in set(columns)]
    if taken:
        raise ConfigError(
            f"the records already have a column {taken[0]!r}, which labeling adds",
            hint="rename it (gold labels: e.g. 'gold') before labeling",
        )


def _merged(records: list[dict[str, Any]], predicted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, **p} for r, p in zip(records, predicted, strict=True)]


def _predicted(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "label": row.get("label"),
        "confidence": row.get("confidence"),
        "probs": row.get("probs"),
        "status": row.get("status"),
        "error": row.get("error") or row.get("reason"),
    }
