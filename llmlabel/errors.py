"""One exception tree. Every error says what went wrong, where, and how to fix it.

The CLI prints ``error: <message>`` and ``hint: <hint>`` and exits non-zero; no traceback
unless ``--debug``.
"""

from __future__ import annotations

import copy
import re
from typing import TypeVar

_SECRETS: set[str] = set()
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@")
# C0 controls but tab and line breaks (the CLI escapes those), DEL, C1 controls and the bidi
# overrides: an error quoting a server or a record must not drive the terminal.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def hide_secret(value: str | None) -> None:
    """Mask ``value`` (an API key read from the environment) in every error from now on."""
    if value and len(value) >= 8:
        _SECRETS.add(value)


def mask(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return text


def hide_passwords(text: str) -> str:
    """``text`` with registered secrets and the password of every URL masked
    (``https://user:***@host``): for what llmlabel writes of its settings (errors, manifests),
    not for answers, where such a URL may be what was asked for."""
    return _URL_PASSWORD.sub(r"\1***@", mask(text))


def clean(text: str) -> str:
    """``text`` with registered secrets and ``Bearer`` tokens masked and control characters
    escaped (``\\x1b``): what every error message, hint and location goes through."""
    text = _BEARER.sub(r"\1***", hide_passwords(text))
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class LLMLabelError(Exception):
    """Root of every error llmlabel raises on purpose."""

    retryable: bool = False
    exit_code: int = 1
    """The CLI's exit status: 2 for bad input (task, template, schema, records), else 1."""

    def __init__(self, message: str, *, hint: str | None = None, where: str | None = None):
        self.message = clean(message)
        self.hint = clean(hint) if hint is not None else None
        self.where = clean(where) if where is not None else None
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class ConfigError(LLMLabelError):
    """The task file (or a CLI option) is invalid."""

    exit_code = 2


class TemplateError(LLMLabelError):
    """A prompt template is missing, broken, or uses an undefined variable."""

    exit_code = 2


class SchemaError(LLMLabelError):
    """A label schema file or model cannot be loaded or used."""

    exit_code = 2


class InputError(LLMLabelError):
    """An input file or record is malformed (bad JSON/CSV line, missing field, empty text)."""

    exit_code = 2


class OutputError(LLMLabelError):
    """The output path cannot be used (exists without --resume/--overwrite, not writable)."""


class JoinError(LLMLabelError):
    """Predictions and gold do not pair up one-to-one by id (missing or duplicate ids)."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        where: str | None = None,
        missing_predictions: int = 0,
        missing_gold: int = 0,
    ):
        super().__init__(message, hint=hint, where=where)
        self.missing_predictions = missing_predictions
        """Gold ids with no prediction."""
        self.missing_gold = missing_gold
        """Prediction ids with no gold label."""


class ExportError(LLMLabelError):
    """An export would be empty or unusable (nothing left after filtering, an empty split)."""


class ModelError(LLMLabelError):
    """A model cannot be found, downloaded, verified or loaded."""


_B = TypeVar("_B", bound="BackendError")


class BackendError(LLMLabelError):
    """A backend request failed. ``retryable`` says whether trying again can help."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        where: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        fatal: bool = False,
    ):
        super().__init__(message, hint=hint, where=where)
        self.retryable = retryable
        self.retry_after = retry_after
        # fatal: no later request can succeed either (unreachable server, bad API key),
        # so the run stops instead of writing a failed row per record.
        self.fatal = fatal

    def after(self: _B, attempts: int) -> _B:
        """This error as the last of ``attempts`` tries (``llmlabel.runs.retrying``): the count goes
        into the message's head, the part before the server's own words, so that every
        request failing the same way reads the same up to its first ``": "`` (what the
        circuit breaker compares): ``… kept failing (HTTP 503)`` becomes ``… kept failing
        (HTTP 503, 6 attempts)``, ``cannot reach …`` becomes ``cannot reach … (6 attempts)``."""
        count = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        head, sep, rest = self.message.partition(": ")
        head = f"{head[:-1]}, {count})" if head.endswith(")") else f"{head} ({count})"
        tried = copy.copy(self)
        tried.message = head + sep + rest
        tried.args = (tried.one_line(),)
        return tried


class ContextError(BackendError):
    """The prompt does not fit the model's context: this record is too long for this model.

    Bad input rather than a server fault, so ``--on-error fail`` stops the run on it."""

    exit_code = 2
