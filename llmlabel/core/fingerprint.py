"""A run's fingerprint: a hash of everything that decides its labels, so that ``--resume``
never mixes rows of two setups in one output.

``parts`` flattens the settings to dotted keys (``task.samples``, ``task.backend.base_url``),
each with a short hash of its value, so a refusal can name what ``changed``. A key added to the
task or its provenance later takes part without a change here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def digest(settings: Mapping[str, Any]) -> str:
    return _hash(settings, 64)


def parts(settings: Mapping[str, Any]) -> dict[str, str]:
    """Dotted key → 8-hex-digit hash of its JSON value, for every leaf of ``settings``."""
    flat: dict[str, str] = {}
    _flatten(settings, "", flat)
    return flat


def changed(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Keys whose value differs, or that only one side has, sorted."""
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _flatten(value: Any, key: str, out: dict[str, str]) -> None:
    if isinstance(value, Mapping) and value:
        for name, item in value.items():
            _flatten(item, f"{key}.{name}" if key else str(name), out)
    else:  # lists are leaves: their order matters and their length may change
        out[key] = _hash(value, 8)


def _hash(value: Any, size: int) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:size]
