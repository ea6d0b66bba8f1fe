"""The task file as one validated pydantic model.

A YAML task file maps onto ``TaskSpec``; unknown keys are errors with a did-you-mean
suggestion. Paths inside the spec stay as written; ``llmlabel.io.taskfile`` resolves them
against the task file's folder.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmlabel.core.kinds import KINDS
from llmlabel.errors import ConfigError

TaskKind = Literal["classification", "multi_label", "ner", "relation", "extraction", "free_text"]
SUPPORTED_KINDS: tuple[str, ...] = tuple(KINDS)
Strategy = Literal["fixed", "random", "label_balanced", "semantic", "mmr"]
Embedder = Literal["auto", "minilm", "tfidf"]
StructuredOutput = Literal["json_schema", "structured_outputs", "guided_json", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelDef(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None


class ExamplesSpec(_Strict):
    """Few-shot examples: inline ``items`` or a JSONL/CSV ``path``; ``k`` of them per prompt."""

    items: list[dict[str, Any]] = Field(default_factory=list)
    path: str | None = None
    k: int | None = Field(None, ge=0)
    strategy: Strategy = "fixed"
    seed: int = 0
    label_field: str | None = Field(
        None, description="the examples' label column; default: label (labels for multi_label)"
    )
    embedder: Embedder = Field(
        "auto",
        description="semantic/mmr: minilm (embeddings extra) or tfidf; auto: minilm if there",
    )
    mmr_lambda: float = Field(
        0.5, ge=0.0, le=1.0, description="mmr: weight of similarity to the record vs diversity"
    )


class BackendSpec(_Strict):
    """Where completions come from.

    ``embedded``: ``model`` is a registry name (``llmlabel models list``) or a ``.gguf`` path.
    ``openai_compat``: ``model`` is the server's model name; ``base_url`` its ``/v1`` URL.
    """

    type: Literal["embedded", "openai_compat"] = "embedded"
    model: str = "qwen2.5-coder-1.5b"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    structured_output: StructuredOutput = "json_schema"
    timeout: float = Field(120.0, gt=0)
    max_n: int | None = Field(None, ge=1)
    n_ctx: int = Field(4096, ge=256)
    parallel: int = Field(4, ge=1)
    threads: int | None = Field(None, ge=1)


class RetrySpec(_Strict):
    attempts: int = Field(6, ge=1, description="tries per request on retryable errors")
    reask: int = Field(2, ge=0, description="re-asks per invalid sample, with the error shown")


class AdaptiveSpec(_Strict):
    """Adaptive self-consistency (``llmlabel.core.adaptive``): sample ``min`` first, then
    ``batch`` at a time, and stop a record once its vote is settled; ``samples`` is the cap."""

    min: int = Field(3, ge=1, description="samples in the first round")
    batch: int = Field(2, ge=1, description="samples per later round")
    level: float | None = Field(
        0.9,
        gt=0.5,
        le=1.0,
        description="stop when P(leader stays ahead) >= level; null: only when unbeatable",
    )


class TaskSpec(_Strict):
    name: str = Field(min_length=1)
    kind: TaskKind = "classification"
    description: str | None = None
    instructions: str = ""
    labels: list[LabelDef] = Field(default_factory=list)
    fields: list[str] = Field(default_factory=lambda: ["text"], min_length=1)
    id_field: str = "id"
    template: str | None = Field(None, description="default: the kind's built-in template")
    label_schema: str | None = Field(None, alias="schema")
    examples: ExamplesSpec = ExamplesSpec()
    backend: BackendSpec = BackendSpec()
    samples: int = Field(1, ge=1, description="samples voted per record (the cap if adaptive)")
    adaptive: AdaptiveSpec | None = None
    temperature: float | None = Field(None, ge=0.0)
    seed: int = 0
    max_tokens: int = Field(64, ge=1)
    logprobs: bool = False
    concurrency: int = Field(4, ge=1)
    retries: RetrySpec = RetrySpec()
    calibration: str | None = Field(
        None,
        description="calib.json from `llmlabel calibrate`: rows get calibrated confidence, "
        "confidence_raw and route (keep | review)",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _samples_block(cls, data: Any) -> Any:
        """``samples: {max: 10, adaptive: true, min: 3, batch: 2, level: 0.9}`` is shorthand
        for ``samples: 10`` plus an ``adaptive:`` block; ``adaptive: true`` takes defaults."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        block = data.get("samples")
        if isinstance(block, dict):
            block = dict(block)
            if "max" not in block:
                raise ValueError("a `samples:` mapping needs `max:` (samples per record at most)")
            data["samples"] = block.pop("max")
            if block.pop("adaptive", bool(block)):
                data["adaptive"] = block
            elif block:
                raise ValueError(f"`samples: {{{', '.join(block)}}}` needs `adaptive: true`")
        if data.get("adaptive") is True:
            data["adaptive"] = {}
        elif data.get("adaptive") is False:
            data["adaptive"] = None
        return data

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_from_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        if isinstance(value, dict):  # {positive: "description", ...}
            return [{"name": k, "description": v} for k, v in value.items()]
        return value

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        names = [label.name for label in self.labels]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"labels are listed twice: {', '.join(duplicates)}")
        if self.adaptive is not None and KINDS[self.kind].settled is None:
            raise ValueError(f"adaptive sampling is not available for {self.kind} tasks yet")
        kind = KINDS[self.kind]
        if kind.needs_labels and not self.labels and not self.label_schema:
            raise ValueError(f"a {self.kind} task needs `labels:` or a `schema:`")
        if not kind.needs_labels and self.labels:
            raise ValueError(
                f"{self.kind} tasks have no label list: remove `labels:`"
                + (" (the `schema:` fields are what is extracted)" if kind.model is None else "")
            )
        if kind.model is None and not self.label_schema:
            raise ValueError(
                f"{self.kind} tasks need a `schema:`, a pydantic model such as "
                "schemas/invoice.py:Invoice"
            )
        if not kind.needs_labels and self.examples.strategy == "label_balanced":
            raise ValueError(
                f"examples.strategy label_balanced needs labels, which {self.kind} tasks do not "
                "have: use fixed or random"
            )
        return self

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def template_name(self) -> str:
        return self.template or KINDS[self.kind].template

    @property
    def effective_temperature(self) -> float:
        """0 for a single sample; 0.7 when voting several, unless set."""
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.samples == 1 else 0.7


def parse_task(data: Any, source: str = "task") -> TaskSpec:
    """Validate a task mapping; raise ``ConfigError`` with one line per problem."""
    if not isinstance(data, dict):
        raise ConfigError(
            "the task file must be a mapping of keys to values",
            where=source,
            hint="start from examples/sentiment/task.yaml",
        )
    if data.get("kind", "classification") not in SUPPORTED_KINDS and "kind" in data:
        kind = data["kind"]
        known = TaskKind.__args__  # type: ignore[attr-defined]
        if kind in known:
            raise ConfigError(
                f"task kind '{kind}' is not built yet",
                where=source,
                hint=f"supported now: {', '.join(SUPPORTED_KINDS)}",
            )
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, data), where=source, hint=_hint(exc, data)) from None


def _describe(exc: ValidationError, data: dict[str, Any]) -> str:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown key '{loc}'")
        else:
            problems.append(f"'{loc}': {err['msg']}")
    return "; ".join(problems)


def _hint(exc: ValidationError, data: dict[str, Any]) -> str | None:
    for err in exc.errors():
        if err["type"] != "extra_forbidden":
            continue
        *parents, key = (str(p) for p in err["loc"])
        model: type[BaseModel] = TaskSpec
        for parent in parents:
            field = model.model_fields.get(parent)
            annotation = field.annotation if field else None
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return None
            model = annotation
        allowed = [f.alias or name for name, f in model.model_fields.items()]
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            return f"did you mean '{close[0]}'?"
        return f"allowed keys here: {', '.join(allowed)}"
    return "fix that value; every key is described in the README's 'The task file' section"
