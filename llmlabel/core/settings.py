"""The task file's nested blocks (``labels``, ``examples``, ``backend``, ``sampler``,
``retries``, ``adaptive``, ``bootstrap``, ``shortlist``, ``committee`` members and
``labeling_functions``) with the literal types and limits they use: each a frozen pydantic model
whose unknown keys are errors. ``llmlabel.core.spec.TaskSpec`` holds them and runs the checks
that need the whole task.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Strategy = Literal["fixed", "random", "label_balanced", "semantic", "mmr"]
Embedder = Literal["auto", "minilm", "tfidf"]
StructuredOutput = Literal["json_schema", "structured_outputs", "guided_json", "none"]
MAX_SAMPLES = 1000
"""Samples per record at most: each costs memory (3,000,000 ran out of 3 GB)."""
MAX_CONCURRENCY = 10_000
"""Records in flight at most: one asyncio worker each (1,000,000,000 never started)."""


class Strict(BaseModel):
    """A block of the task file: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelDef(Strict):
    name: str = Field(min_length=1)
    description: str | None = None


class ExamplesSpec(Strict):
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


class BackendSpec(Strict):
    """Where completions come from.

    ``embedded``: ``model`` is a registry name (``llmlabel models list``) or a ``.gguf`` path.
    ``openai_compat``: ``model`` is the server's model name; ``base_url`` its ``/v1`` URL.
    ``transformers`` / ``vllm_offline``: ``model`` is a Hugging Face id or a local folder;
    ``device``, ``dtype`` and ``batch_size`` apply (vLLM: ``n_ctx`` is its max_model_len).
    """

    type: Literal["embedded", "openai_compat", "transformers", "vllm_offline"] = "embedded"
    model: str = "qwen2.5-coder-1.5b"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    structured_output: StructuredOutput = "json_schema"
    timeout: float = Field(
        120.0, gt=0, description="seconds one request attempt may take in all, not per read"
    )
    max_n: int | None = Field(None, ge=1)
    sampler_extras: bool | None = Field(
        None,
        description="send top_k and min_p (vLLM, llama.cpp); default: only to local servers",
    )
    n_ctx: int = Field(4096, ge=256)
    parallel: int = Field(4, ge=1)
    threads: int | None = Field(None, ge=1)
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="transformers")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    batch_size: int | None = Field(
        None, ge=1, description="offline engines: samples per engine call (16 / 256)"
    )


class SamplerSpec(Strict):
    """The sampler's truncation, sent with every request and recorded in provenance. The
    defaults truncate nothing: a label the model gives 3% must be drawable 3% of the time, or
    votes look unanimous (llama.cpp's own defaults, top_k 40 / top_p 0.95 / min_p 0.05, would
    cut it). ``null`` leaves a setting to the server (hosted APIs without ``top_k``/``min_p``)."""

    top_p: float | None = Field(1.0, gt=0.0, le=1.0)
    top_k: int | None = Field(0, ge=0, description="0: no limit")
    min_p: float | None = Field(0.0, ge=0.0, le=1.0)


ConfidenceMethod = Literal["vote", "logprob", "combined"]


class RetrySpec(Strict):
    attempts: int = Field(6, ge=1, description="tries per request on retryable errors")
    reask: int = Field(2, ge=0, description="re-asks per invalid sample, with the error shown")
    stop_after: int = Field(
        5, ge=0, description="stop the run once this many records in a row failed the same way"
    )


class AdaptiveSpec(Strict):
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


class BootstrapSpec(Strict):
    """Transductive few-shot from the records themselves, with no human labels: label the
    input, take its most confident labels (at most ``per_label`` records per label, confidence
    ``min_confidence`` or more) as the example pool, and label the input again with ``shots``
    of them per record (``strategy``; a record is never its own example). ``rounds`` passes
    come before the final one."""

    rounds: int = Field(1, ge=1, le=5, description="labeling passes before the final one")
    per_label: int = Field(8, ge=1, description="pool records per label, most confident first")
    shots: int = Field(4, ge=1, description="examples per record in the next pass")
    strategy: Strategy = Field("semantic", description="how each record's examples are chosen")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="pool confidence floor")


class ShortlistSpec(Strict):
    """Many labels: each record is prompted with its ``k`` labels most similar to its text
    (cosine of ``embedder`` vectors of the record's fields and each label's ``name:
    description``), plus the labels of the few-shot examples it is shown; answers are
    constrained to that shortlist (``llmlabel.select.shortlist``)."""

    k: int = Field(8, ge=1, description="labels most similar to the record shown to the model")
    embedder: Embedder = Field(
        "auto", description="minilm (embeddings extra) or tfidf; auto: minilm if installed"
    )
    fallback_below: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="label a record again with every label when its confidence within the "
        "shortlist is below this; null: never",
    )


class LabelingFunctionSpec(Strict):
    """A rule that votes beside the model (``llmlabel.core.committee``): ``label`` when any of
    ``keywords`` (whole words, any case) or ``regex`` occurs in ``fields`` (default: the
    task's; NER: each match in ``text`` is an entity), else it abstains; or
    ``python: file.py:function``, called with the record's fields, returning its answer (a
    label; multi-label: or a list of labels; NER: a list of entities) or None (abstain)."""

    name: str = Field(min_length=1)
    label: str | None = None
    keywords: list[str] = Field(default_factory=list)
    regex: str | None = None
    python: str | None = None
    fields: list[str] | None = None
    weight: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _one_rule(self) -> LabelingFunctionSpec:
        given = [k for k in ("keywords", "regex", "python") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                f"labeling function '{self.name}' needs exactly one of keywords, regex, python"
                + (f" (has {', '.join(given)})" if given else "")
            )
        if self.python is None and self.label is None:
            raise ValueError(f"labeling function '{self.name}' needs the `label:` it votes for")
        if self.python is not None and self.label is not None:
            raise ValueError(
                f"labeling function '{self.name}': a python function returns its label; "
                "remove `label:`"
            )
        if any(not k.strip() for k in self.keywords):
            raise ValueError(f"labeling function '{self.name}': a keyword is blank")
        if self.regex is not None:
            try:
                pattern = re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"labeling function '{self.name}': bad regex: {exc}") from None
            if pattern.search(""):
                raise ValueError(
                    f"labeling function '{self.name}': the regex matches empty text, so it "
                    "would vote on every record"
                )
        return self


class CommitteeMemberSpec(Strict):
    """One prompt/model of a committee; what it leaves out comes from the task (``backend``
    keys given here replace the task's backend keys)."""

    name: str | None = Field(None, min_length=1, description="default: member-<n>")
    template: str | None = None
    backend: BackendSpec | None = None
    samples: int | None = Field(None, ge=1, le=MAX_SAMPLES)
    temperature: float | None = Field(None, ge=0.0)
    weight: float = Field(1.0, gt=0)
