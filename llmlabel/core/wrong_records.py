"""Error analysis: the records scored wrong, with their text, the most frequent confusions
first (``llmlabel eval`` lists them in its report)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from llmlabel.core.metrics import Outcome


class WrongRecord(BaseModel):
    """A record scored wrong, for error analysis: what gold says, what was predicted (None:
    not labeled), with what confidence, and the record's text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    gold: str
    predicted: str | None
    confidence: float
    status: str
    text: str


def wrong_records(
    outcomes: Sequence[Outcome], texts: Mapping[str, str], limit: int = 100
) -> tuple[WrongRecord, ...]:
    """The wrong outcomes with their texts: the most frequent (gold, predicted) confusions
    first, each one's most confident records first (confident mistakes are the ones a
    threshold keeps)."""
    wrong = [o for o in outcomes if not o.correct]
    pairs = Counter((_shown(o.gold), _shown(o.predicted)) for o in wrong)
    ranked = sorted(
        wrong,
        key=lambda o: (-pairs[(_shown(o.gold), _shown(o.predicted))], -o.confidence, o.id),
    )
    return tuple(
        WrongRecord(
            id=o.id,
            gold=_shown(o.gold) or "",
            predicted=_shown(o.predicted),
            confidence=o.confidence,
            status=o.status,
            text=texts.get(o.id, ""),
        )
        for o in ranked[:limit]
    )


def _shown(value: Any) -> str | None:
    """A kind's value as one string (labels as they are; sets and spans sorted)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (set, frozenset, list, tuple)):
        return ", ".join(sorted(map(str, value)))
    return str(value)
