"""Retries of backend requests, in the runner for every backend (``llmlabel.runs.retrying``):
backends only say whether an error is retryable and how long to wait. Unit tests drive the
runner with a scripted backend that fails the way the embedded backend does; the pool tests run
real ``openai_compat`` replicas against stub servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

import llmlabel
from llmlabel.backends.base import Backend
from llmlabel.backends.pool import EndpointPool, openai_pool
from llmlabel.core.request import Completion, LabelRequest
from llmlabel.core.settings import BackendSpec
from llmlabel.core.spec import TaskSpec, parse_task
from llmlabel.errors import BackendError
from llmlabel.io.cache import NullCache
from llmlabel.io.readers import InputRecord
from llmlabel.io.sink import ListSink
from llmlabel.runs.local import Runner
from llmlabel.runs.retrying import RetryPolicy
from llmlabel.task import load
from tests.fakes import FakeBackend
from tests.stub_server import StubServer, error

ANSWER = '{"label": "positive"}'


def task(attempts: int = 3, **extra: Any) -> TaskSpec:
    return parse_task(
        {
            "name": "retries",
            "labels": ["positive", "negative"],
            "confidence": "vote",
            "samples": 1,
            "concurrency": 1,
            "retries": {"attempts": attempts, "reask": 0, **extra},
        }
    )


def llama_error(code: int, retry_after: float | None = None) -> BackendError:
    """What the embedded backend raises for an error from llama.cpp (``embedded._error``): 5xx
    is a transient server state, 4xx can never succeed as written."""
    return BackendError(
        f"llama.cpp error {code}: slot failed",
        where="fake-model",
        retryable=code >= 500,
        retry_after=retry_after,
    )


class Flaky:
    """A ``FakeBackend`` whose first calls raise ``errors`` (one each), then answer."""

    name = "flaky"

    def __init__(self, errors: Iterable[BackendError], forever: BackendError | None = None):
        self.inner = FakeBackend(lambda request, i: ANSWER)
        self.model_id, self.max_n = self.inner.model_id, self.inner.max_n
        self.errors = list(errors)
        self.forever = forever
        self.calls = 0

    async def complete(self, request: LabelRequest) -> Completion:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        if self.forever is not None:
            raise self.forever
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        pass


class Sleeps:
    """Injected in place of asyncio.sleep: records the waits, waits for none."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def label(spec: TaskSpec, backend: Backend, n: int = 1) -> list[dict[str, Any]]:
    """Rows of ``n`` records, through the public API with the task's own retries."""
    records = [{"id": str(i), "text": f"great {i}"} for i in range(n)]
    return llmlabel.label_records(spec, records, cache=False, backend=backend)


def run(
    spec: TaskSpec, backend: Backend, sleeps: Sleeps, n: int = 1
) -> tuple[list[dict[str, Any]], BaseException | None]:
    """Rows of ``n`` records through a ``Runner`` whose retries wait with ``sleeps``, and the
    error that stopped the run, if any; the backend is closed in the run's event loop."""
    runner = Runner(
        load(spec),
        backend,
        NullCache(),
        sink := ListSink(),
        retry=RetryPolicy(attempts=spec.retries.attempts, sleep=sleeps),
    )
    records = [InputRecord(str(i), {"text": f"great {i}"}, f"record {i}") for i in range(n)]

    async def go() -> None:
        try:
            await runner.run(records)
        finally:
            await backend.aclose()

    try:
        asyncio.run(go())
    except BackendError as exc:
        return sink.rows, exc
    return sink.rows, None


# --- any backend: the embedded backend's errors ------------------------------------------


def test_a_retryable_error_of_the_embedded_backend_is_retried_and_the_record_labeled() -> None:
    backend = Flaky([llama_error(503, retry_after=0.0)])
    [row] = label(task(), backend)
    assert row["status"] == "labeled" and row["label"] == "positive", row
    assert backend.calls == 2 and row["error"] is None


def test_a_non_retryable_error_is_not_retried() -> None:
    backend = Flaky([llama_error(400)])
    sleeps = Sleeps()
    [row], stopped = run(task(), backend, sleeps)
    assert stopped is None and backend.calls == 1 and sleeps.delays == []
    assert row["status"] == "failed"
    assert row["error"] == "fake-model: llama.cpp error 400: slot failed"  # no attempt count


def test_attempts_exhausted_is_a_failed_row_with_the_error_and_its_count() -> None:
    backend = Flaky([], forever=llama_error(503, retry_after=0.0))
    [row] = label(task(attempts=3), backend)
    assert backend.calls == 3
    assert row["status"] == "failed" and row["label"] is None
    assert row["error"] == "fake-model: llama.cpp error 503 (3 attempts): slot failed"


def test_retry_after_is_what_the_retry_waits() -> None:
    backend = Flaky([llama_error(503, retry_after=0.01), llama_error(503, retry_after=1e6)])
    sleeps = Sleeps()
    [row], _ = run(task(), backend, sleeps)
    assert row["status"] == "labeled" and backend.calls == 3
    assert sleeps.delays == [0.01, 60.0]  # the server's wait, capped at the policy's max_delay


def test_without_retry_after_the_backoff_is_random_exponential_and_bounded() -> None:
    backend = Flaky([llama_error(500)] * 4)
    sleeps = Sleeps()
    [row], _ = run(task(attempts=5), backend, sleeps)
    assert row["status"] == "labeled" and backend.calls == 5
    assert len(sleeps.delays) == 4
    assert all(0 <= d <= 0.5 * 2**k for k, d in enumerate(sleeps.delays)), sleeps.delays


def test_one_attempt_means_no_retry() -> None:
    backend = Flaky([llama_error(503)])
    sleeps = Sleeps()
    [row], _ = run(task(attempts=1), backend, sleeps)
    assert backend.calls == 1 and sleeps.delays == []
    assert row["error"] == "fake-model: llama.cpp error 503 (1 attempt): slot failed"


def test_the_breaker_counts_one_failure_per_record_after_its_retries() -> None:
    backend = Flaky([], forever=llama_error(503))
    sleeps = Sleeps()
    rows, stopped = run(task(attempts=3, stop_after=2), backend, sleeps, n=5)
    assert isinstance(stopped, BackendError) and stopped.fatal
    assert "stopped after 2 records in a row" in stopped.message
    assert "llama.cpp error 503 (3 attempts)" in stopped.message
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert backend.calls == 6 and len(sleeps.delays) == 4


def test_a_retryable_fatal_error_is_retried_then_stops_the_run() -> None:
    unreachable = BackendError("cannot reach http://127.0.0.1:9/v1", retryable=True, fatal=True)
    backend = Flaky([], forever=unreachable)
    rows, stopped = run(task(attempts=2), backend, Sleeps(), n=3)
    assert backend.calls == 2 and rows == []
    assert isinstance(stopped, BackendError) and stopped.fatal
    assert stopped.message == "cannot reach http://127.0.0.1:9/v1 (2 attempts)"


@pytest.mark.parametrize(
    ("message", "after"),
    [
        ("http://h/v1 kept failing (HTTP 503): busy: a: b", "(HTTP 503, 4 attempts): busy: a: b"),
        ("request to http://h/v1 timed out after 1s", "timed out after 1s (4 attempts)"),
        ("bad answer from http://h/v1: not JSON", "bad answer from http://h/v1 (4 attempts): "),
    ],
)
def test_the_count_goes_into_the_head_of_the_message(message: str, after: str) -> None:
    error = BackendError(message, retryable=True, retry_after=2.0, where="w")
    tried = error.after(4)
    assert after in tried.message and str(tried) == f"w: {tried.message}"
    assert (tried.retryable, tried.retry_after, tried.where) == (True, 2.0, "w")
    assert error.message == message  # the original is left as it was


# --- a pool of real openai_compat replicas ------------------------------------------------


def test_a_pool_retries_once_on_the_next_replica_not_inside_each() -> None:
    spec = BackendSpec(type="openai_compat", model="stub-model", timeout=5)
    sleeps = Sleeps()
    with StubServer(lambda body: error(503, "down", "server_error")) as dead, StubServer() as alive:
        pool = openai_pool(spec, [dead.url, alive.url])
        [row], _ = run(task(attempts=3), pool, sleeps)
        assert (dead.calls, alive.calls) == (1, 1)
    assert row["status"] == "labeled", row
    assert len(sleeps.delays) == 1


def test_a_pool_of_failing_replicas_makes_attempts_requests_in_all() -> None:
    spec = BackendSpec(type="openai_compat", model="stub-model", timeout=5)
    down = error(503, "down", "server_error", headers={"retry-after-ms": "1"})
    sleeps = Sleeps()
    with StubServer(lambda body: down) as first, StubServer(lambda body: down) as second:
        pool: EndpointPool = openai_pool(spec, [first.url, second.url])
        [row], _ = run(task(attempts=3), pool, sleeps)
        assert (first.calls, second.calls) == (2, 1)
    assert row["status"] == "failed"
    assert "kept failing (HTTP 503, 3 attempts): down" in row["error"]
    assert sleeps.delays == [0.001, 0.001]  # the replicas' retry-after-ms
