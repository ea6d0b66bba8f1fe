"""What labeling a run took (records, requests, tokens, time, an estimated price), from the
run's manifest totals: ``llmlabel eval`` reports it beside the scores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict


class RunCost(BaseModel):
    """What labeling the predictions took, from the run's manifest totals.

    A resumed run's manifest counts only its last part (records already done are
    ``skipped_already_done``); ``resumed`` says so.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    records: int
    requests: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    resumed: bool = False
    usd: float | None = None
    """Estimated from the prices given per million tokens; None without prices."""

    @property
    def records_per_s(self) -> float | None:
        return self.records / self.seconds if self.seconds > 0 else None


def run_cost(
    totals: Mapping[str, Any],
    *,
    resumed: bool = False,
    price_input: float | None = None,
    price_output: float | None = None,
) -> RunCost:
    """The cost of a run from its manifest ``totals``; prices are USD per million tokens
    (a price not given counts as 0; no price at all gives no estimate)."""
    prompt = int(totals.get("prompt_tokens", 0))
    completion = int(totals.get("completion_tokens", 0))
    usd = None
    if price_input is not None or price_output is not None:
        usd = (prompt * (price_input or 0.0) + completion * (price_output or 0.0)) / 1e6
    return RunCost(
        records=int(totals.get("records", 0)),
        requests=int(totals.get("requests", 0)),
        cache_hits=int(totals.get("cache_hits", 0)),
        prompt_tokens=prompt,
        completion_tokens=completion,
        seconds=float(totals.get("seconds", 0.0)),
        resumed=resumed,
        usd=usd,
    )
