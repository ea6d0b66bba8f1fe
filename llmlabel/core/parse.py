"""Turn a model's raw text into a validated answer, or say exactly why not."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from llmlabel.core.schema import VOTE_FIELD, validate
from llmlabel.errors import clean

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@dataclass(frozen=True)
class Parsed:
    """A sample's outcome: ``answer`` when valid, else ``error`` (fit to show the model)."""

    answer: BaseModel | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.answer is not None


def parse_answer(
    text: str,
    model: type[BaseModel],
    labels: list[str] | None = None,
    field: str = VOTE_FIELD,
) -> Parsed:
    """Parse JSON (tolerating a code fence or prose around one object) and validate it.

    When ``labels`` is given, a label in ``field`` (a string, or a list of them) that matches
    an allowed one except for case or surrounding whitespace is mapped onto it first.
    """
    data = _extract_json(text)
    if data is None:
        snippet = text.strip().replace("\n", " ")[:80]
        return Parsed(None, clean(f"not valid JSON: {snippet!r}"))  # no key a server echoed
    if labels and isinstance(data, dict):
        data = _normalise_labels(data, labels, field)
    try:
        return Parsed(validate(model, data))
    except ValidationError as exc:
        return Parsed(None, _validation_message(exc))


def cut_off(error: str, max_tokens: int) -> str:
    """The reason of an invalid answer whose generation stopped at ``max_tokens``."""
    return f"cut off by max_tokens ({max_tokens}); raise max_tokens in the task file: {error}"


def _extract_json(text: str) -> Any:
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):  # also: nested past the stack, ints past 4300 digits
        pass
    start = stripped.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(stripped[start:])
    except (ValueError, RecursionError):
        return None
    return value


def _normalise_labels(data: dict[str, Any], labels: list[str], field: str) -> dict[str, Any]:
    value = data.get(field)
    folded = {label.casefold(): label for label in labels}

    def fix(item: Any) -> Any:
        if not isinstance(item, str) or item in labels:
            return item
        return folded.get(item.strip().casefold(), item)

    if isinstance(value, str):
        return {**data, field: fix(value)}
    if isinstance(value, list):
        return {**data, field: [fix(item) for item in value]}
    return data


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "answer"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
