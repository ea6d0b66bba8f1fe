"""Stop a run that cannot succeed: a circuit breaker over finished rows.

A base URL that answers every request with an HTML page, a server that hangs until the
timeout, a 5xx that never clears: each record would end as a failed row after its full retries,
one by one, for hours. After ``limit`` records in a row failed the same way the run stops
instead; its rows are kept and ``--resume`` labels the rest once the cause is fixed.
"""

from __future__ import annotations


class Breaker:
    """Counts finished rows that failed in a row the same way (``limit`` 0: never trips).

    The kind of a failure is its error up to the first ``": "``, the part the backend wrote
    (``… kept failing (HTTP 503, 6 attempts)``) before the server's own words, which differ
    from request to request. Skipped rows (bad input) neither count nor break the streak.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kind: str | None = None
        self._streak = 0

    def trips(self, status: str, error: str | None) -> bool:
        """Take one finished row; True once ``limit`` rows in a row failed the same way."""
        if status == "skipped":
            return False
        if status != "failed" or error is None:
            self._kind, self._streak = None, 0
            return False
        kind = error.split(": ")[0]
        self._streak = self._streak + 1 if kind == self._kind else 1
        self._kind = kind
        return 0 < self.limit <= self._streak
