"""vLLM in process (``vllm.LLM``) for GPU machines: a thin adapter over one ``generate`` call.

``batch.py`` gathers the requests, renders each prompt with the model's chat template (the
tokenizer vLLM loaded) and checks it against ``max_model_len``; this file only turns each request
into ``SamplingParams`` (``n``, ``seed``, ``temperature``, ``max_tokens``, the sampler's
``top_p`` / ``top_k`` / ``min_p`` when set, ``logprobs`` (the top ``top_logprobs`` alternatives
per token, or only the sampled token's), structured output from the pydantic JSON schema) and
reads ``RequestOutput``s back. Prompts go in as token ids, so what is rendered is exactly what is
checked and counted; a prefilled probe's prompt already ends with its prefill (``batch.py``
renders it), so it goes without the structured output and vLLM continues it.

Token texts are decoded here with the tokenizer (``tokens.token_logprobs``), not taken from
vLLM's per-token strings, which are decoded one token at a time. vLLM applies the grammar before
it computes logprobs: the alternatives are the allowed tokens, whose ratios are the model's.

Structured outputs: ``StructuredOutputsParams(json=...)`` (vLLM ≥ 0.10, the only form since
0.12), else ``GuidedDecodingParams(json=...)`` (older releases); compact JSON without free
whitespace where the release supports it.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from llmlabel.backends.batch import (
    BatchBackend,
    EngineRequest,
    Generated,
    model_id_for,
)
from llmlabel.backends.tokens import token_logprobs
from llmlabel.core.settings import BackendSpec
from llmlabel.errors import LLMLabelError, ModelError

__all__ = ["DEFAULT_BATCH_SIZE", "VLLMEngine", "sampling_params", "vllm_backend"]

DEFAULT_BATCH_SIZE = 256


def _import_vllm() -> ModuleType:
    try:
        return importlib.import_module("vllm")
    except ImportError as exc:
        raise LLMLabelError(
            "the vllm_offline backend needs vllm, which is not installed",
            hint="pip install 'llmlabel[vllm]' on a CUDA machine, or use backend.type: "
            "transformers (CPU or GPU) or openai_compat against `vllm serve`",
        ) from exc


def vllm_backend(spec: BackendSpec) -> BatchBackend:
    """The ``Backend`` for ``backend.type: vllm_offline``."""
    engine = VLLMEngine(spec)
    return BatchBackend(engine, batch_size=spec.batch_size or DEFAULT_BATCH_SIZE, max_n=spec.max_n)


def sampling_params(vllm: ModuleType, request: EngineRequest) -> Any:
    """The ``SamplingParams`` of one request."""
    logprobs = request.top_logprobs or (0 if request.logprobs else None)  # 0: the sampled one
    sampler: dict[str, Any] = {}
    if request.top_p is not None:
        sampler["top_p"] = request.top_p
    if request.top_k is not None:
        sampler["top_k"] = request.top_k or -1  # -1: none, in every vLLM release
    if request.min_p is not None:
        sampler["min_p"] = request.min_p
    return vllm.SamplingParams(
        n=request.n,
        temperature=request.temperature,
        seed=request.seed,
        max_tokens=request.max_tokens,
        logprobs=logprobs,
        **sampler,
        **({} if request.prefill_tokens else _structured(request.json_schema)),
    )


def _structured(schema: dict[str, Any]) -> dict[str, Any]:
    """``SamplingParams`` keyword for a JSON-schema constraint, in this vLLM's dialect."""
    module = importlib.import_module("vllm.sampling_params")
    params = getattr(module, "StructuredOutputsParams", None)
    keyword = "structured_outputs"
    if params is None:
        params, keyword = module.GuidedDecodingParams, "guided_decoding"
    options: dict[str, Any] = {"json": schema}
    if "disable_any_whitespace" in {f.name for f in dataclasses.fields(params)}:
        options["disable_any_whitespace"] = True
    return {keyword: params(**options)}


class VLLMEngine:
    """``vllm.LLM(model, dtype, max_model_len=n_ctx)``; one ``generate`` per batch."""

    name = "vllm_offline"

    def __init__(self, spec: BackendSpec) -> None:
        self._vllm = _import_vllm()
        try:
            self._llm: Any = self._vllm.LLM(
                model=spec.model, dtype=spec.dtype, max_model_len=spec.n_ctx
            )
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"vLLM could not load '{spec.model}': {exc}",
                hint="give a Hugging Face model id or a local model folder; lower "
                "backend.n_ctx if the KV cache does not fit",
            ) from exc
        self.tokenizer = self._llm.get_tokenizer()
        self.max_context: int | None = spec.n_ctx
        self.model_id = model_id_for(spec.model)

    def generate(self, requests: Sequence[EngineRequest]) -> list[list[Generated]]:
        prompts = [{"prompt_token_ids": list(r.prompt_ids)} for r in requests]
        params = [sampling_params(self._vllm, r) for r in requests]
        outputs = self._llm.generate(prompts, params, use_tqdm=False)
        return [
            [self._generated(choice, request) for choice in output.outputs]
            for request, output in zip(requests, outputs, strict=True)
        ]

    def close(self) -> None:
        self._llm = None

    def _generated(self, choice: Any, request: EngineRequest) -> Generated:
        tokens = None
        if request.top_logprobs and choice.logprobs:
            ids = list(choice.token_ids)
            logprobs, top = [], []
            for token, position in zip(ids, choice.logprobs, strict=True):
                logprobs.append(float(position[token].logprob))
                ranked = sorted(
                    (p.rank if p.rank is not None else math.inf, i, float(p.logprob))
                    for i, p in position.items()
                )
                top.append(
                    [(i, lp) for _, i, lp in ranked[: request.top_logprobs] if math.isfinite(lp)]
                )
            tokens = token_logprobs(self.tokenizer, request, ids, logprobs, top)
        return Generated(
            text=choice.text,
            tokens=len(choice.token_ids),
            finish_reason=choice.finish_reason,
            logprob=choice.cumulative_logprob if request.logprobs else None,
            token_logprobs=tokens,
        )
