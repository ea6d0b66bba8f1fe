"""What a run counts: ``RunStats``, filled row by row (``count_row``) by every runner."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from llmlabel.core.request import Usage
from llmlabel.core.row import Row

SKIPPED_LISTED = 10
NO_LOGPROBS = "no token logprobs from the backend: confidence is the vote share"


@dataclass
class RunStats:
    records: int = 0
    labeled: int = 0
    abstained: int = 0
    failed: int = 0
    skipped: int = 0
    skipped_bad: int = 0
    """Bad records written as ``skipped`` rows (``on_error="skip"``)."""
    skipped_where: list[str] = field(default_factory=list)
    """The first few of them: where each is and why it was skipped."""
    ties: int = 0
    requests: int = 0
    cache_hits: int = 0
    reasks: int = 0
    usage: Usage = field(default_factory=Usage)
    labels: Counter[str] = field(default_factory=Counter)
    confidence_sum: float = 0.0
    confidence_range: tuple[float, float] | None = None
    """Lowest and highest confidence of a labeled row: equal means it ranks nothing."""
    vote_fallbacks: int = 0
    """Rows that asked for logprob confidence and got the vote (no token logprobs)."""
    shortlist_fallbacks: int = 0
    """Rows labeled again among every label (``shortlist.fallback_below``)."""
    numbered: int = 0
    """Records without the task's ``id_field``, whose ids are their row numbers."""
    id_field: str = "id"
    unkept: Counter[str] = field(default_factory=Counter)
    """``keep_fields`` names missing from records: field -> records without it."""
    first_failure: str | None = None
    label_descriptions: dict[str, str] | None = None
    """Descriptions the model wrote for bare labels (``describe_labels``)."""
    label_prior: dict[str, float] | None = None
    """The content-free label prior (``bias_correction: content_free``), once asked."""
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return self.labeled + self.abstained + self.failed + self.skipped_bad

    @property
    def mean_confidence(self) -> float | None:
        return self.confidence_sum / self.labeled if self.labeled else None

    def warnings(self) -> list[str]:
        """What a run summary should point out: a confidence that ranks nothing, labels that
        collapsed onto one class, rows that got the vote instead of logprobs."""
        found = []
        low, high = self.confidence_range or (0.0, 1.0)
        if self.labeled >= 5 and low == high:
            found.append(
                f"every labeled row has confidence {low:.3f}: it cannot tell right labels from "
                "wrong ones; try `confidence: logprob` (or more samples at a higher temperature)"
            )
        top = self.labels.most_common(1)
        if self.labeled >= 10 and top and top[0][1] >= 0.95 * self.labeled:
            found.append(
                f"{top[0][1]} of {self.labeled} labeled rows are '{top[0][0]}': check the "
                "prompt and labels on a few records (`--dry-run`), or try a larger model"
            )
        if self.vote_fallbacks:
            found.append(f"{self.vote_fallbacks} rows: {NO_LOGPROBS}")
        if self.numbered:
            found.append(
                f"{self.numbered} record(s) have no '{self.id_field}' field, so their ids are "
                "their row numbers (0, 1, …); if the input has its own id column, name it with "
                "`id_field:` in the task file"
            )
        for name, count in sorted(self.unkept.items()):
            found.append(
                f"{count} record(s) have no '{name}' field to keep (`keep_fields:`): check the "
                "name against the input's fields"
            )
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "labeled": self.labeled,
            "abstained": self.abstained,
            "failed": self.failed,
            "skipped_already_done": self.skipped,
            "skipped_bad": self.skipped_bad,
            "ties": self.ties,
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "reasks": self.reasks,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "labels": dict(self.labels),
            "mean_confidence": self.mean_confidence,
            **({} if self.label_prior is None else {"label_prior": self.label_prior}),
            **({"label_descriptions": self.label_descriptions} if self.label_descriptions else {}),
            **({"shortlist_fallbacks": n} if (n := self.shortlist_fallbacks) else {}),
            "seconds": round(self.seconds, 3),
        }


def count_row(stats: RunStats, row: Row, *, label_totals: bool) -> None:
    """Add one output row to ``stats`` (also for runners that gather rows elsewhere);
    ``label_totals``: count labels (extraction and free text have none)."""
    stats.usage = stats.usage + row_usage(row)
    stats.shortlist_fallbacks += bool(row.shortlist_fallback)
    if row.status == "labeled":
        stats.labeled += 1
        label = row.label
        if label_totals:
            stats.labels.update(_names(label if isinstance(label, list) else [label]))
        confidence = row.confidence
        stats.confidence_sum += confidence
        low, high = stats.confidence_range or (confidence, confidence)
        stats.confidence_range = (min(low, confidence), max(high, confidence))
        stats.vote_fallbacks += row.confidence_note == NO_LOGPROBS
        stats.ties += int(row.tie)
    elif row.status == "abstained":
        stats.abstained += 1
    elif row.status == "skipped":
        stats.skipped_bad += 1
        if len(stats.skipped_where) < SKIPPED_LISTED:
            stats.skipped_where.append(str(row.error))
    else:
        stats.failed += 1
        stats.first_failure = stats.first_failure or f"record {row.id}: {row.error}"


def row_usage(row: Row) -> Usage:
    return Usage(
        prompt_tokens=row.usage.prompt_tokens, completion_tokens=row.usage.completion_tokens
    )


def _names(labels: list[Any]) -> list[str]:
    """Labels to count in the run's totals; entities count under their type, relation
    triples under their relation."""
    return [
        str(item.get("label", item.get("relation"))) if isinstance(item, dict) else item
        for item in labels
    ]
