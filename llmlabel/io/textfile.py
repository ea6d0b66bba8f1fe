"""Read the text files a user writes (task and compare files, templates): whatever is wrong
with one is one ``ConfigError`` naming it, never a traceback or a hang."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from llmlabel.errors import ConfigError, LLMLabelError

MAX_VALUES = 1_000_000
"""Values a YAML file may hold once its aliases are expanded: anchors nested into a 'billion
laughs' (a few hundred bytes expanding to billions of strings) would hang every reader."""


def read_text(path: Path, what: str, error: type[LLMLabelError] = ConfigError) -> str:
    """``path`` as UTF-8 text; ``what`` names it in the error ("task file", "template")."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} is not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
            where=str(path),
            hint="save it as UTF-8",
        ) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", where=str(path)) from None


def read_yaml(
    path: Path, what: str, hint: str, loader: type[yaml.SafeLoader] = yaml.SafeLoader
) -> Any:
    """The YAML document in ``path``; ``hint`` is the one shown for a syntax error."""
    text = read_text(path, what)
    try:
        data = yaml.load(text, Loader=loader)  # a SafeLoader (or a subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "cannot parse YAML"
        raise ConfigError(str(problem), where=where, hint=hint) from None
    except RecursionError:
        raise ConfigError(
            f"{what} is nested too deeply to read", where=str(path), hint=hint
        ) from None
    if _more_values_than(data, MAX_VALUES):
        raise ConfigError(
            f"{what} expands to more than {MAX_VALUES:,} values (YAML aliases of aliases)",
            where=str(path),
            hint="write the values out, or move few-shot examples to a file (examples.path)",
        )
    return data


def _more_values_than(data: Any, limit: int) -> bool:
    """Whether ``data`` has more than ``limit`` values counted as written out (an alias as
    often as it is used); stops counting at the limit, so a 'billion laughs' costs no more."""
    stack, count = [data], 0
    while stack:
        value = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False
