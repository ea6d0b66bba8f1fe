"""Retries of backend requests, the same for every backend (tenacity).

Backends only classify: a ``BackendError`` says whether trying again can help (``retryable``)
and how long the server asked us to wait (``retry_after``). The runner sends every request
through one ``RetryPolicy``, so a pool of replicas is retried once, on the next replica, and
the circuit breaker sees one failure per request that failed after all its attempts. How long
one attempt may take stays with each backend (``backend.timeout``): only a backend knows
whether its call can be abandoned half way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_random_exponential

from llmlabel.core.settings import RetrySpec
from llmlabel.errors import BackendError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """Up to ``attempts`` tries of a request that fails with a retryable ``BackendError``,
    waiting what the server asked (``retry_after``, at most ``max_delay``) or else a random
    exponential backoff (up to ``base_delay * 2**k`` before try ``k + 2``, at most
    ``max_delay``). ``sleep`` is injectable so that tests wait for nothing."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 60.0
    sleep: Sleep = asyncio.sleep

    @classmethod
    def of(cls, spec: RetrySpec) -> RetryPolicy:
        """The policy of a task's ``retries:`` settings."""
        return cls(attempts=spec.attempts)

    async def call(self, request: Callable[[], Awaitable[T]]) -> T:
        """``await request()``, again while it raises a retryable ``BackendError``. The error
        that ends the tries is raised with their count in its message (``… (HTTP 503,
        6 attempts): …``, see ``BackendError.after``)."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=self._wait,
            retry=retry_if_exception(retryable),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await request()
        except BackendError as exc:
            if not exc.retryable:
                raise
            raise exc.after(retrying.statistics.get("attempt_number", 1)) from exc
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = exc.retry_after if isinstance(exc, BackendError) else None
        if hinted is not None:
            return min(max(0.0, hinted), self.max_delay)
        backoff = wait_random_exponential(multiplier=self.base_delay, max=self.max_delay)
        return float(backoff(state))


def retryable(exc: BaseException) -> bool:
    """Whether trying the request again can help: only the backend's say-so counts."""
    return isinstance(exc, BackendError) and exc.retryable
