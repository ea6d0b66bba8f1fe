"""The rows a run writes, field by field: a record's row in the order its fields are written
(failed, then completed as skipped or voted), the confidence a voted row reports, and the
shortlist a ``shortlist:`` record was asked among, and the one row of a ``vary_prompts``
record's variants. The runner decides which row a record gets; this module only fills it in."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from llmlabel.core import labelprobs
from llmlabel.core.crossfit import Router
from llmlabel.core.request import Sample, Usage
from llmlabel.core.row import Row
from llmlabel.core.vote import Vote
from llmlabel.io.readers import InputRecord
from llmlabel.runs.stats import NO_LOGPROBS, row_usage
from llmlabel.task import PreparedTask


def failed_row(
    record: InputRecord,
    example_ids: list[str],
    usage: Usage,
    provenance: dict[str, Any],
    router: Router | None,
    keep_fields: Sequence[str],
    error: str | None = None,
) -> dict[str, Any]:
    """The fields of a failed row (what ``Row`` validates), for the caller to complete:
    in the order they are written."""
    row = {
        "id": record.id,
        "status": "failed",
        "label": None,
        "confidence": 0.0,
        "votes": {},
        "tie": False,
        "reason": None,
        "error": error,
        "invalid": [],
        "examples": example_ids,
        "usage": usage.model_dump(),
        "provenance": provenance,
    }
    if router is not None:  # a labeled row is routed again by ``label``
        row.update(confidence_raw=0.0, route="review")
    if keep := keep_fields:
        row["input"] = {name: record.data[name] for name in keep if name in record.data}
    return row


def voted(row: dict[str, Any], vote: Vote, reasons: list[str]) -> dict[str, Any]:
    """``row`` (a ``failed_row``) as the row of a record whose samples were voted (labeled or
    abstained)."""
    row.update(
        status="labeled" if vote.label is not None else "abstained",
        label=vote.label,
        confidence=round(vote.confidence, 6),
        votes=vote.counts,
        tie=vote.tie,
        reason=vote.abstain_reason,
        invalid=reasons,
    )
    if vote.label_confidence is not None:
        row["label_confidence"] = vote.label_confidence
    if vote.extra:
        row.update(vote.extra)
    return row


def add_confidence(
    row: dict[str, Any],
    task: PreparedTask,
    vote: Vote,
    probs: dict[str, float],
    method: str,
    soft: list[dict[Any, float] | None] | None,
    samples: list[Sample],
) -> None:
    """What a voted row says of its confidence: the label distribution and its method, or why
    it is the vote's share (``NO_LOGPROBS``); the samples drawn (adaptive) and their logprobs."""
    if probs and vote.label is not None:
        row["probs"] = {label: round(p, 6) for label, p in probs.items()}
        row["confidence_method"] = method
    if task.scores_labels and method == "vote":
        row["confidence_note"] = NO_LOGPROBS
    if task.scores_items and vote.label is not None:
        if soft is None:
            row["confidence_note"] = NO_LOGPROBS
        else:
            row["confidence_method"] = task.spec.confidence
    if task.spec.adaptive is not None:
        row["samples_used"] = len(samples)
    if task.spec.logprobs:
        row["logprobs"] = [s.logprob for s in samples]


def with_shortlist(
    row: Row, shortlist: list[str], labels: list[str], spent: Usage | None = None
) -> Row:
    """``row`` saying which labels its record was asked among (after ``examples``). A row
    labeled among the shortlist gets ``probs`` over every label, 0 outside it; ``spent``: the
    usage of the shortlist's answer, which the row labeled again among every label adds on."""
    data = row.dump()
    if spent is None and data.get("probs") is not None:
        data["probs"] = {label: data["probs"].get(label, 0.0) for label in labels}
    if spent is not None:
        data["usage"] = (spent + row_usage(row)).model_dump()
    added: dict[str, Any] = {"shortlist": shortlist}
    if spent is not None:
        added["shortlist_fallback"] = True
    at = list(data).index("examples") + 1 if "examples" in data else len(data)
    items = list(data.items())
    return Row.model_validate({**dict(items[:at]), **added, **dict(items[at:])})


def merged_variants(rows: list[Row], labels: list[str]) -> dict[str, Any]:
    """One row from the variants' rows: the first labeled one's fields with the mean label
    distribution (a variant without ``probs`` counts as all on its label), its argmax as the
    label, the variants' labels as ``votes`` and every variant's usage. No variant labeled:
    the first row, with every variant's usage."""
    usage = sum((row_usage(row) for row in rows), Usage())
    labeled = [row for row in rows if row.status == "labeled"]
    if not labeled:
        return {**rows[0].dump(), "usage": usage.model_dump()}
    found = [row.probs or {str(row.label): 1.0} for row in labeled]
    probs = labelprobs.mean(found, labels)
    best = labelprobs.argmax(probs, labels)
    votes = Counter(str(row.label) for row in labeled)
    data = labeled[0].dump()
    data.update(
        label=best,
        confidence=round(probs[best], 6),
        votes={label: votes[label] for label in labels if votes[label]},
        tie=sum(p == probs[best] for p in probs.values()) > 1,
        probs={label: round(p, 6) for label, p in probs.items()},
        usage=usage.model_dump(),
    )
    return data
