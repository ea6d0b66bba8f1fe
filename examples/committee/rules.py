"""Labeling functions as Python: each gets the record's fields and returns its answer or None."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def login_rule(record: Mapping[str, Any]) -> str | None:
    text = str(record["text"]).lower()
    if any(words in text for words in ("password", "log in", "login", "locked out")):
        return "account"
    return None


def thanks_rule(record: Mapping[str, Any]) -> list[str] | None:
    """A multi-label rule returns its whole answer, a list of labels: here ``[]`` (no topic
    applies) for a plain thank-you, else None (abstain)."""
    text = str(record["text"]).lower()
    thanks = any(words in text for words in ("thank", "looks great", "well done"))
    asks = "?" in text or any(words in text for words in ("please", "not ", "never", "still"))
    return [] if thanks and not asks else None
