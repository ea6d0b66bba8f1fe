"""A labeling function as Python: it gets the record's fields and returns a label or None."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def login_rule(record: Mapping[str, Any]) -> str | None:
    text = str(record["text"]).lower()
    if any(words in text for words in ("password", "log in", "login", "locked out")):
        return "account"
    return None
