"""One exception tree. Every error says what went wrong, where, and how to fix it.

The CLI prints ``error: <message>`` and ``hint: <hint>`` and exits non-zero; no traceback
unless ``--debug``.
"""

from __future__ import annotations


class LLMLabelError(Exception):
    """Root of every error llmlabel raises on purpose."""

    retryable: bool = False
    exit_code: int = 1
    """The CLI's exit status: 2 for bad input (task, template, schema, records), else 1."""

    def __init__(self, message: str, *, hint: str | None = None, where: str | None = None):
        self.message = message
        self.hint = hint
        self.where = where
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


class ContextError(BackendError):
    """The prompt does not fit the model's context: this record is too long for this model.

    Bad input rather than a server fault, so ``--on-error fail`` stops the run on it."""

    exit_code = 2
