"""The Ray side of ``--runner ray``: the Ray Data actor that labels a batch of staged records
with the local runner (its own backend and request cache), the error it sends back as data,
and the cluster it runs on (one given by address, or a private local one)."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from llmlabel.backends import make_backend
from llmlabel.backends.base import Backend
from llmlabel.backends.pool import openai_pool
from llmlabel.core.spec import TaskSpec
from llmlabel.errors import LLMLabelError
from llmlabel.io.cache import NullCache, RequestCache
from llmlabel.io.readers import InputRecord
from llmlabel.io.sink import ListSink, encode_row
from llmlabel.runs.committee import make_runner
from llmlabel.runs.local import OnError
from llmlabel.runs.ray_parts import unpack
from llmlabel.task import load


class LabelActor:
    """A Ray Data actor: its own backend and cache, each batch labeled by the local Runner."""

    def __init__(
        self,
        spec: TaskSpec,
        base_dir: str,
        endpoints: tuple[str, ...],
        cache: str | None,
        on_error: OnError,
        first: list[InputRecord] | None = None,
    ) -> None:
        self._task = load(spec, base_dir=base_dir)
        self._first = first
        """The input's first records, the same for every batch (label lines, pool prior)."""
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
        records = [unpack(blob) for blob in batch["record"]]
        sink = ListSink()
        runner = make_runner(
            self._task, backend, cache, sink, on_error=self._on_error, first=self._first
        )
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


def rebuild(blob: bytes) -> LLMLabelError:
    """The llmlabel error an actor sent back, as it was raised there."""
    cls, state = pickle.loads(blob)
    error: LLMLabelError = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error.one_line())
    return error


def import_ray() -> Any:
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
def cluster(ray: Any, address: str | None) -> Iterator[None]:
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
