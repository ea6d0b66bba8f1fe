"""A run's fingerprint: a hash of everything that decides its labels, so that ``--resume``
never mixes rows of two setups in one output.

``parts`` flattens the settings to dotted keys (``task.samples``, ``task.backend.base_url``),
each with a short hash of its value; the fingerprint hashes the parts. A key added to the task
or its provenance later takes part without a change here, and ``changed`` names the keys that
differ, so a refusal can say what changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def parts(settings: Mapping[str, Any]) -> dict[str, str]:
    """Dotted key → 16-hex-digit hash of its JSON value, for every leaf of ``settings``."""
    flat: dict[str, str] = {}
    _flatten(settings, "", flat)
    return flat


def digest(flat: Mapping[str, str]) -> str:
    return _hash(dict(sorted(flat.items())), 64)


def changed(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Keys whose value differs, or that only one side has, sorted."""
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def _flatten(value: Any, key: str, out: dict[str, str]) -> None:
    if isinstance(value, Mapping) and value:
        for name, item in value.items():
            _flatten(item, f"{key}.{name}" if key else str(name), out)
    else:  # lists are leaves: their order matters and their length may change
        out[key] = _hash(value, 16)


def _hash(value: Any, size: int) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:size]
