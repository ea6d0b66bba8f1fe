"""What review reads from a run: its prediction rows as review ``Candidate``s, checked against
the task (ids unique, one kind, labels in the task's terms as the kind reads them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmlabel.core.committee import Member
from llmlabel.core.kinds.base import Review
from llmlabel.core.review import Candidate, Label
from llmlabel.core.row import Row
from llmlabel.errors import InputError
from llmlabel.io.rowfile import read_rows
from llmlabel.task import PreparedTask

PREDICTIONS_HINT = "PREDICTIONS must be an output file of `llmlabel run` for this task"


def read_predictions(path: str | Path, prepared: PreparedTask) -> dict[str, tuple[Row, str]]:
    """Prediction rows by id (file order), each with where it came from."""
    rows: dict[str, tuple[Row, str]] = {}
    for where, row in read_rows(path, skipped=False):
        key = row.key
        if key in rows:
            raise InputError(
                f"prediction '{key}' appears twice (first at {rows[key][1]})",
                where=where,
                hint="ids must be unique; was a run appended to another?",
            )
        kind = row.kind or prepared.spec.kind
        if kind != prepared.spec.kind:
            raise InputError(
                f"the row is a {kind} prediction; task '{prepared.spec.name}' is "
                f"{prepared.spec.kind}",
                where=where,
                hint="pass the task file the predictions were made with",
            )
        rows[key] = (row, where)
    if not rows:
        raise InputError("no predictions in the file", where=str(path), hint=PREDICTIONS_HINT)
    return rows


def label_of(value: Any, prepared: PreparedTask, review: Review, where: str) -> Label | None:
    """A row's label in the task's terms, as the kind reads it (``None``: no label)."""
    if value is None:
        return None
    return review.label(value, prepared.labels, prepared.spec.name, where)


def candidate(row: Row, where: str, prepared: PreparedTask, review: Review) -> Candidate:
    votes: dict[str, int] = dict(row.votes)
    label = label_of(row.label, prepared, review, where) if row.status == "labeled" else None
    invalid = len(row.invalid)
    committee = _committee(row.committee, where)
    per_item = review.votes(votes, prepared.labels)
    recorded = None
    if per_item is not None:  # votes: valid samples per label (per candidate span)
        samples = _samples(row, where)
        valid = max(samples - invalid, max(votes.values(), default=0))
        votes = per_item
        if row.committee is not None:  # members vote per item: the run's number
            recorded = _number(row.committee.get("disagreement"), "committee.disagreement", where)
            committee = None
    else:
        valid = sum(votes.values())
    return Candidate(
        id=row.key,
        label=label,
        confidence=row.confidence,
        votes=votes,
        valid=valid,
        invalid=invalid,
        multi_label=review.multi_label,
        committee=committee,
        spans=review.spans,
        disagreement=recorded,
        probs=_probs(row),
    )


def _probs(row: Row) -> dict[str, float] | None:
    """The row's label distribution if it came from token logprobs (see ``core.review``)."""
    if (row.confidence_method or "vote") == "vote":
        return None
    return row.probs


def _samples(row: Row, where: str) -> int:
    """All samples behind a multi-label or NER row (a committee's: every member's answers)."""
    members = (row.committee or {}).get("samples")
    if members is None:
        return int(row.samples_used or row.provenance.get("samples") or 0)
    if not isinstance(members, dict):
        raise InputError("'committee.samples' is not a {member: count} object", where=where)
    return sum(int(_number(n, "committee.samples", where)) for n in members.values())


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} {value!r} is not a number", where=where, hint=PREDICTIONS_HINT)
    return float(value)


def _committee(value: Any, where: str) -> list[Member] | None:
    """A committee run's per-member votes (the row's ``committee`` object), if any."""
    if value is None:
        return None
    try:
        votes, weights, invalid = value["votes"], value["weights"], value.get("invalid", {})
        return [
            Member(
                str(name),
                {str(k): int(n) for k, n in member_votes.items()},
                int(invalid.get(name, 0)),
                float(weights[name]),
            )
            for name, member_votes in votes.items()
        ]
    except (TypeError, KeyError, ValueError, AttributeError):
        raise InputError(
            "'committee' is not a committee run's {votes, invalid, weights, ...} object",
            where=where,
            hint=PREDICTIONS_HINT,
        ) from None
