"""The task file as one validated pydantic model.

A YAML task file maps onto ``TaskSpec``; unknown keys are errors with a did-you-mean
suggestion. Paths inside the spec stay as written; ``llmlabel.task.load`` resolves them
against the task file's folder. The nested blocks are ``llmlabel.core.settings``'s.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llmlabel.core.kinds import KINDS
from llmlabel.core.settings import (
    MAX_CONCURRENCY,
    MAX_SAMPLES,
    AdaptiveSpec,
    BackendSpec,
    BootstrapSpec,
    CommitteeMemberSpec,
    ConfidenceMethod,
    ExamplesSpec,
    LabelDef,
    LabelingFunctionSpec,
    RetrySpec,
    SamplerSpec,
    ShortlistSpec,
    Strict,
)
from llmlabel.errors import ConfigError

TaskKind = Literal[
    "classification",
    "multi_label",
    "ner",
    "relation",
    "relation_triples",
    "extraction",
    "free_text",
]
SUPPORTED_KINDS: tuple[str, ...] = tuple(KINDS)


class TaskSpec(Strict):
    name: str = Field(min_length=1)
    kind: TaskKind = "classification"
    description: str | None = None
    instructions: str = ""
    labels: list[LabelDef] = Field(default_factory=list)
    fields: list[str] = Field(default_factory=lambda: ["text"])
    image_fields: list[str] = Field(
        default_factory=list,
        description="record fields holding an image path or URL, sent as image content parts "
        "to a vision model (openai_compat backends)",
    )
    image_root: str | None = Field(
        None,
        description="folder the image files records name must lie in (relative to the task "
        "file); default: the input file's folder",
    )
    id_field: str = "id"
    keep_fields: list[str] = Field(
        default_factory=list,
        description="input fields copied into each output row under `input` (error analysis "
        "without joining files)",
    )
    template: str | None = Field(None, description="default: the kind's built-in template")
    label_schema: str | None = Field(None, alias="schema")
    examples: ExamplesSpec = ExamplesSpec()
    backend: BackendSpec = BackendSpec()
    samples: int = Field(
        1, ge=1, le=MAX_SAMPLES, description="samples voted per record (the cap if adaptive)"
    )
    adaptive: AdaptiveSpec | None = None
    describe_labels: bool = Field(
        False,
        description="the model writes a one-line description for each label that has none, "
        "once before the run (cached; recorded in the manifest)",
    )
    bootstrap: BootstrapSpec | None = Field(
        None, description="transductive few-shot: examples from a first pass's confident labels"
    )
    shortlist: ShortlistSpec | None = Field(
        None, description="many labels: prompt each record with its most similar labels only"
    )
    temperature: float | None = Field(None, ge=0.0)
    seed: int = 0
    max_tokens: int = Field(64, ge=1)
    logprobs: bool = False
    sampler: SamplerSpec = SamplerSpec()
    confidence: ConfidenceMethod = Field(
        "logprob",
        description="logprob: each label's probability from the token logprobs (the default: "
        "it ranks errors best, eval/results/confidence.md); vote: share of the samples; "
        "combined: the mean of the two distributions",
    )
    vary_prompts: bool = Field(
        False,
        description="each of the samples sees the labels and few-shot examples in its own "
        "seeded order (greedy unless temperature is set); the row's distribution is the mean "
        "of theirs",
    )
    label_lists: Literal["greedy", "walk"] = Field(
        "greedy",
        description="multi-label answers: greedy keeps the model's token-by-token answer; "
        "walk chooses each next label by its exact probability (label trie) and ends the list "
        "where the model more likely closes it (needs confidence logprob or combined and one "
        "sample at temperature 0; eval/results/bare_goemotions.md)",
    )
    bias_correction: Literal["none", "content_free", "pool"] = Field(
        "none",
        description="divide out a label prior: content_free, the one the model shows on "
        "content-free inputs (N/A, [MASK], …); pool, the mean label distribution of the first "
        "64 records (for labels about equally frequent); needs confidence logprob or combined",
    )
    concurrency: int = Field(4, ge=1, le=MAX_CONCURRENCY)
    retries: RetrySpec = RetrySpec()
    calibration: str | None = Field(
        None,
        description="calib.json from `llmlabel calibrate`: rows get calibrated confidence, "
        "confidence_raw and route (keep | review)",
    )
    committee: list[CommitteeMemberSpec] = Field(
        default_factory=list, description="prompts/models whose votes merge (docs/committees.md)"
    )
    labeling_functions: list[LabelingFunctionSpec] = Field(
        default_factory=list, description="keyword/regex/Python rules that vote beside the model"
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

    @field_validator("bootstrap", "shortlist", mode="before")
    @classmethod
    def _switched_off(cls, value: Any) -> Any:
        """``bootstrap: false`` / ``shortlist: false`` (or an override to false) means none."""
        return None if value is False else value

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        names = [label.name for label in self.labels]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"labels are listed twice: {', '.join(duplicates)}")
        alike = _alike(names)
        if alike:  # answers and gold labels are matched up to case: these could not be told apart
            raise ValueError(f"labels differ only in case or surrounding whitespace: {alike}")
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
        if self.describe_labels and (self.committee or self.labeling_functions):
            raise ValueError("describe_labels runs one model: remove `committee`")
        if self.bias_correction != "none" and self.confidence == "vote":
            raise ValueError(
                "bias_correction needs label probabilities: set `confidence: logprob` (or combined)"
            )
        self._check_committee()
        self._check_images()
        self._check_bootstrap()
        self._check_shortlist()
        self._check_vary_prompts()
        return self

    def _check_shortlist(self) -> None:
        if self.shortlist is None:
            return
        kind = KINDS[self.kind]
        if not kind.needs_labels or kind.model is None:
            raise ValueError(
                f"shortlist narrows the label list, which {self.kind} tasks do not have: "
                "remove `shortlist:`"
            )
        if self.label_schema:
            raise ValueError(
                "shortlist narrows the answer schema built from `labels:`, not a `schema:` "
                "model: remove `schema:` (list the labels) or `shortlist:`"
            )
        if self.committee or self.labeling_functions:
            raise ValueError("shortlist runs one model: remove `committee`/`labeling_functions`")

    def _check_vary_prompts(self) -> None:
        kind = KINDS[self.kind]
        if not self.vary_prompts:
            return
        if not kind.scores_labels or kind.model is None or self.label_schema:
            raise ValueError("vary_prompts reorders `labels:` of a one-label kind (no `schema:`)")
        if self.committee or self.labeling_functions or self.adaptive or self.shortlist:
            raise ValueError(
                "vary_prompts runs its own samples: remove `committee`, `labeling_functions`, "
                "`adaptive` and `shortlist`"
            )

    def _check_bootstrap(self) -> None:
        if self.bootstrap is None:
            return
        if not KINDS[self.kind].scores_labels:  # one label per record
            raise ValueError(f"bootstrap needs one label per record; {self.kind} tasks have not")
        if self.examples.items or self.examples.path:
            raise ValueError("bootstrap builds the example pool: remove `examples.items/path`")
        if self.committee or self.labeling_functions:
            raise ValueError("bootstrap runs one model: remove `committee`/`labeling_functions`")

    def _check_images(self) -> None:
        if not self.fields and not self.image_fields:
            raise ValueError("`fields:` needs at least one record field")
        both = sorted(set(self.fields) & set(self.image_fields))
        if both:
            raise ValueError(
                f"{', '.join(both)}: a field is text (`fields:`) or an image (`image_fields:`)"
            )
        members = [m.backend for m in self.committee if m.backend]
        backends = [self.backend, *(b for b in members if "type" in b.model_fields_set)]
        text_only = sorted({b.type for b in backends if b.type != "openai_compat"})
        if self.image_fields and text_only:
            raise ValueError(
                f"image_fields need a vision model behind an openai_compat backend; the "
                f"{', '.join(text_only)} backend is text-only"
            )

    def _check_committee(self) -> None:
        if not (self.committee or self.labeling_functions):
            return
        rules = KINDS[self.kind].committee
        if rules is None:
            raise ValueError(_no_committee(self.kind))
        names = [m.name or f"member-{i + 1}" for i, m in enumerate(self.committee)] or ["model"]
        names += [lf.name for lf in self.labeling_functions]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            lone = "" if self.committee else " (`model` is the task's own prompt)"
            raise ValueError(f"committee member names are used twice: {', '.join(twice)}{lone}")
        unknown = [
            f"{lf.name} -> {lf.label}"
            for lf in self.labeling_functions
            if lf.label is not None and self.labels and lf.label not in self.label_names
        ]
        if unknown:
            raise ValueError(f"labeling functions vote for unknown labels: {', '.join(unknown)}")
        if rules.fields is not None:
            outside = [
                lf.name
                for lf in self.labeling_functions
                if lf.fields and not set(lf.fields) <= set(rules.fields)
            ]
            if outside:
                raise ValueError(
                    f"labeling functions {', '.join(outside)} read fields other than "
                    f"{', '.join(rules.fields)}, where {self.kind} rules find their answers: "
                    "remove their `fields:`"
                )

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def template_name(self) -> str:
        return self.template or KINDS[self.kind].template

    @property
    def effective_temperature(self) -> float:
        """0 for a single sample or varied prompts; 0.7 when voting several, unless set."""
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.samples == 1 or self.vary_prompts else 0.7


def parse_task(
    data: Any,
    source: str = "task",
    overrides: Mapping[str, Any] | None = None,
    *,
    overridden: str | None = None,
) -> TaskSpec:
    """Validate a task mapping (a ``TaskSpec`` passes as it is); raise ``ConfigError`` with one
    line per problem, ``where=source``. ``overrides`` (``backend.model`` style dotted keys; a
    None value leaves its key alone) are set in the valid task's data, which is validated
    again; its errors are where ``overridden`` (default: the task's name) says, "(with
    command-line options)", since the task as written was valid."""
    spec = data if isinstance(data, TaskSpec) else _validated(data, source)
    if not overrides:
        return spec
    where = f"{overridden or spec.name} (with command-line options)"
    return _validated(_overridden(spec, overrides), where)


def _overridden(spec: TaskSpec, overrides: Mapping[str, Any]) -> dict[str, Any]:
    data = spec.model_dump(by_alias=True, exclude_unset=True)
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, key = dotted.split(".")
        for parent in parents:
            if node.get(parent) is None:  # absent, or `shortlist: null` in the file
                node[parent] = {}
            node = node[parent]
        node[key] = value
    return data


def _validated(data: Any, source: str) -> TaskSpec:
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
    kind = data.get("kind", "classification")
    voters = data.get("committee") or data.get("labeling_functions")
    if voters and kind in SUPPORTED_KINDS and KINDS[kind].committee is None:
        raise ConfigError(
            _no_committee(kind),
            where=source,
            hint="remove `committee:` and `labeling_functions:`; several `samples:` of one "
            "prompt still vote",
        )
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, data), where=source, hint=_hint(exc, data)) from None


def _alike(names: list[str]) -> str:
    """Label names equal up to case and surrounding whitespace, as "'A' ~ 'a'; …"."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.strip().casefold(), []).append(name)
    return "; ".join(" ~ ".join(map(repr, g)) for g in groups.values() if len(set(g)) > 1)


def _no_committee(kind: str) -> str:
    able = ", ".join(k.name for k in KINDS.values() if k.committee is not None)
    return f"committees and labeling functions do not work on {kind} tasks (only on {able})"


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
            # ``X | None`` (adaptive, bootstrap, shortlist): the keys are X's
            annotation = next(
                (a for a in typing.get_args(annotation) if a is not type(None)), annotation
            )
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return None
            model = annotation
        allowed = [f.alias or name for name, f in model.model_fields.items()]
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            return f"did you mean '{close[0]}'?"
        return f"allowed keys here: {', '.join(allowed)}"
    return "fix that value; every key is described in docs/task-file.md"
