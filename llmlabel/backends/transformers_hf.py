"""Hugging Face causal LMs through ``transformers``, batched, on CPU or GPU.

One ``generate`` call per batch (``batch.py`` gathers the batch): every sample is a row, prompts
left-padded. Decoding is constrained to the request's JSON schema by xgrammar (compact JSON, no
free whitespace), so even a weak model answers in the schema. Sampling is done here, not by
``generate``: a logits processor masks each row with its grammar, draws the row's token with the
row's own seeded generator (``temperature`` 0: the most likely allowed token) and hands
``generate`` a one-hot row to take greedily. A sample's tokens thus depend on its seed and
prompt, not on which other records shared its batch (up to the float differences of batched
arithmetic). The model's own sampling defaults (``generation_config.json``) are not used; the
request's ``top_k``, ``top_p`` and ``min_p`` truncate the grammar-masked distribution after the
temperature, in that order (as ``transformers`` orders its warpers).

With ``top_logprobs`` the sampler also records, per row and step, the top alternatives of the
model's raw distribution (``log_softmax`` of the logits, before the grammar and temperature),
as servers report them (token texts: ``tokens.token_logprobs``). A prefilled request (a probe)
continues its prompt without the grammar.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from llmlabel.backends.batch import (
    BatchBackend,
    EngineRequest,
    Generated,
    model_id_for,
    sample_seeds,
)
from llmlabel.backends.tokens import decode, token_logprobs
from llmlabel.core.schema import GUIDANCE
from llmlabel.core.settings import BackendSpec
from llmlabel.errors import LLMLabelError, ModelError

__all__ = ["DEFAULT_BATCH_SIZE", "TransformersEngine", "transformers_backend"]

DEFAULT_BATCH_SIZE = 16
_DTYPES = {"float32", "float16", "bfloat16"}


def _require(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise LLMLabelError(
            f"the transformers backend needs {name}, which is not installed",
            hint="pip install 'llmlabel[transformers]' (torch, transformers, xgrammar)",
        ) from exc


def transformers_backend(spec: BackendSpec) -> BatchBackend:
    """The ``Backend`` for ``backend.type: transformers``."""
    engine = TransformersEngine(spec)
    return BatchBackend(engine, batch_size=spec.batch_size or DEFAULT_BATCH_SIZE, max_n=spec.max_n)


class TransformersEngine:
    """A causal LM and its tokenizer loaded with ``from_pretrained`` (a Hub id or a folder)."""

    name = "transformers"

    def __init__(self, spec: BackendSpec) -> None:
        self._torch: Any = _require("torch")
        self._xgr: Any = _require("xgrammar")
        transformers: Any = _require("transformers")
        torch = self._torch
        if spec.threads is not None:
            torch.set_num_threads(spec.threads)
        self.device = _device(spec.device, torch)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(spec.model)
            model = _quietly(
                transformers,
                lambda: transformers.AutoModelForCausalLM.from_pretrained(
                    spec.model, **{_dtype_keyword(transformers): _dtype(spec.dtype, self.device)}
                ),
            )
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"transformers could not load '{spec.model}': {exc}",
                hint="give a Hugging Face model id or a folder with config.json, the weights "
                "and the tokenizer",
            ) from exc
        if not getattr(self.tokenizer, "chat_template", None):
            raise ModelError(
                f"the tokenizer of '{spec.model}' has no chat template",
                hint="use an instruct/chat model, or add `chat_template` to its "
                "tokenizer_config.json",
            )
        self.model: Any = model.to(self.device).eval()
        self.stop_ids = _stop_ids(model, self.tokenizer)
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else self.stop_ids[0]
        # llmlabel samples itself; the model's own defaults (temperature, top_p, repetition
        # penalty, ...) would otherwise be merged into every generate call.
        self.model.generation_config = transformers.GenerationConfig(
            eos_token_id=self.stop_ids, pad_token_id=self.pad_id
        )
        self._config_class: Any = transformers.GenerationConfig
        self._processors: Any = transformers.LogitsProcessorList
        self._sampler_class = _sampler_class(transformers, torch, self._xgr)
        self.max_context: int | None = getattr(model.config, "max_position_embeddings", None)
        self.model_id = model_id_for(spec.model, getattr(model.config, "_commit_hash", None))
        vocab = max(int(model.config.vocab_size), len(self.tokenizer))
        info = self._xgr.TokenizerInfo.from_huggingface(
            self.tokenizer, vocab_size=vocab, stop_token_ids=self.stop_ids
        )
        self._compiler = self._xgr.GrammarCompiler(info)
        self._grammars: dict[str, Any] = {}
        self._vocab = int(info.vocab_size)
        self._tokens = len(self.tokenizer)  # ids past the tokenizer's are padding of the vocab

    def generate(self, requests: Sequence[EngineRequest]) -> list[list[Generated]]:
        torch = self._torch
        rows = [(r, seed) for r in requests for seed in sample_seeds(r.seed, r.n)]
        width = max(len(r.prompt_ids) for r, _ in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (request, _) in enumerate(rows):  # left padding: every prompt ends at `width`
            length = len(request.prompt_ids)
            input_ids[i, width - length :] = torch.tensor(request.prompt_ids, dtype=torch.long)
            attention[i, width - length :] = 1
        sampler = self._sampler_class(
            [None if r.prefill_tokens else self._grammar(r.json_schema) for r, _ in rows],
            [seed for _, seed in rows],
            [_Truncation.of(r) for r, _ in rows],
            self.stop_ids[0],
            any(r.logprobs or r.top_logprobs for r, _ in rows),
            self._vocab,
            [r.top_logprobs for r, _ in rows],
            self._tokens,
        )
        config = self._config_class(
            do_sample=False,
            num_beams=1,
            max_new_tokens=max(r.max_tokens for r, _ in rows),
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
        )
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                generation_config=config,
                logits_processor=self._processors([sampler]),
            )
        new = output[:, width:].tolist()
        samples = [
            self._sample(tokens, request, sampler.logprobs[i], sampler.top[i])
            for i, ((request, _), tokens) in enumerate(zip(rows, new, strict=True))
        ]
        answers, start = [], 0
        for request in requests:
            answers.append(samples[start : start + request.n])
            start += request.n
        return answers

    def close(self) -> None:
        self.model = None
        self._grammars.clear()

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            guidance = {**GUIDANCE, **schema.get("x-guidance", {})}  # as the examples show
            separators = (guidance["item_separator"], guidance["key_separator"])
            self._grammars[key] = self._compiler.compile_json_schema(
                key, any_whitespace=False, separators=separators, strict_mode=True
            )
        return self._grammars[key]

    def _sample(
        self,
        tokens: list[int],
        request: EngineRequest,
        logprobs: list[float],
        top: list[list[tuple[int, float]]],
    ) -> Generated:
        """The row's answer up to its stop token (or ``max_tokens``), from the token ids and
        what the sampler recorded for the row (per step: the drawn token's logprob and the top
        alternatives, each when asked)."""
        stops = set(self.stop_ids)
        end = next((i for i, t in enumerate(tokens) if t in stops), None)
        if end is not None and end < request.max_tokens:
            kept, count, reason = tokens[:end], end + 1, "stop"
        else:
            kept = tokens[: request.max_tokens]
            count, reason = len(kept), "length"
        text = decode(self.tokenizer, kept)
        logprob = sum(logprobs[:count]) if request.logprobs else None
        per_token = None
        if request.top_logprobs:
            # the stop token too (its text is empty): a probe answered by it keeps its alternatives
            per_token = token_logprobs(self.tokenizer, request, tokens[:count], logprobs, top)
        return Generated(
            text=text,
            tokens=count,
            finish_reason=reason,
            logprob=logprob,
            token_logprobs=per_token,
        )


class _Truncation:
    """A row's sampling settings: temperature, then top-k, top-p, min-p (``None``: off)."""

    __slots__ = ("min_p", "temperature", "top_k", "top_p")

    def __init__(
        self, temperature: float, top_k: int | None, top_p: float | None, min_p: float | None
    ) -> None:
        self.temperature = temperature
        self.top_k = top_k or None
        self.top_p = top_p if top_p is not None and top_p < 1 else None
        self.min_p = min_p or None

    @classmethod
    def of(cls, request: EngineRequest) -> _Truncation:
        return cls(request.temperature, request.top_k, request.top_p, request.min_p)


def _device(device: str, torch: Any) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LLMLabelError(
            f"backend.device is {device} but PyTorch sees no CUDA device",
            hint="use device: cpu (or auto), or install a CUDA build of torch",
        )
    return device


def _dtype(dtype: str, device: str) -> str:
    """``auto`` keeps the checkpoint's dtype on a GPU; on CPU half precision is slow: float32."""
    if dtype in _DTYPES:
        return dtype
    return "float32" if device == "cpu" else "auto"


def _dtype_keyword(transformers: Any) -> str:
    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _quietly(transformers: Any, load: Any) -> Any:
    """Load without transformers' progress bars."""
    logging = transformers.utils.logging
    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        return load()
    finally:
        if shown:
            logging.enable_progress_bar()


def _stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """Tokens that end an answer: the model's generation EOS ids, else the tokenizer's."""
    ids = getattr(model.generation_config, "eos_token_id", None)
    if ids is None:
        ids = tokenizer.eos_token_id
    if ids is None:
        raise ModelError(
            "the model has no end-of-sequence token", hint="set eos_token in the tokenizer"
        )
    stops = [ids] if isinstance(ids, int) else list(ids)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in stops:
        stops.append(tokenizer.eos_token_id)
    return [int(t) for t in stops]


def _sampler_class(transformers: Any, torch: Any, xgr: Any) -> Any:
    """The logits processor class, built once the optional packages are imported."""

    class ConstrainedSampler(transformers.LogitsProcessor):  # type: ignore[misc]
        """Per row: accept the last token into the row's grammar matcher, mask the logits to
        what the grammar allows next (a row without a grammar, a prefilled probe, is free),
        draw with the row's generator, return a one-hot row. Records the drawn token's
        logprob and the top alternatives of the raw distribution when asked."""

        def __init__(
            self,
            grammars: list[Any | None],
            seeds: list[int],
            truncations: list[_Truncation],
            stop: int,
            logprobs: bool,
            vocab: int,
            top_logprobs: list[int],
            tokens: int,
        ) -> None:
            self.matchers = [None if g is None else xgr.GrammarMatcher(g) for g in grammars]
            self.bitmask = xgr.allocate_token_bitmask(len(grammars), vocab)
            self.seeds = seeds
            self.truncations = truncations
            self.stop = stop
            self.want_logprobs = logprobs
            self.logprobs: list[list[float]] = [[] for _ in grammars]
            self.top_logprobs = top_logprobs
            self.top: list[list[list[tuple[int, float]]]] = [[] for _ in grammars]
            self.tokens = tokens
            self.generators: list[Any] = []
            self.started = False

        def _allowed(self, device: Any) -> Any:
            """The bitmask (32 tokens per int32 word) as one bool per token, on ``device``.
            Plain torch on every device: no kernel to compile on a GPU machine."""
            shifts = torch.arange(32, dtype=torch.int32, device=device)
            bits = (self.bitmask.to(device).unsqueeze(-1) >> shifts) & 1
            return bits.reshape(bits.shape[0], -1).bool()

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            rows = len(self.matchers)
            if not self.generators:
                self.generators = [
                    torch.Generator(device=scores.device).manual_seed(s) for s in self.seeds
                ]
            if self.started:
                last = input_ids[:, -1].tolist()
                for matcher, token in zip(self.matchers, last, strict=True):
                    if matcher is not None and not matcher.is_terminated():
                        matcher.accept_token(token)
            self.started = True
            live = [m is None or not m.is_terminated() for m in self.matchers]
            for i, matcher in enumerate(self.matchers):
                if matcher is not None and live[i]:
                    matcher.fill_next_token_bitmask(self.bitmask, i)
            raw = scores.float()
            allowed = self._allowed(raw.device)[:, : raw.shape[-1]]
            free = [i for i, m in enumerate(self.matchers) if m is None]
            if free:
                allowed[free] = True
            masked = raw.masked_fill(~allowed, float("-inf"))
            choice = torch.full((rows, 1), self.stop, dtype=torch.long, device=scores.device)
            for i in range(rows):
                if not live[i]:
                    continue  # finished: generate pads this row whatever is chosen
                choice[i, 0] = _draw(masked[i], self.truncations[i], self.generators[i])
            if self.want_logprobs:
                self._record(raw, choice)
            onehot = torch.full_like(scores, float("-inf"))
            return onehot.scatter_(1, choice, 0.0)

        def _record(self, raw: Any, choice: Any) -> None:
            logprobs = torch.log_softmax(raw, dim=-1)
            picked = logprobs.gather(1, choice)[:, 0].tolist()
            k = max(self.top_logprobs)
            if k:
                values, ids = logprobs[:, : self.tokens].topk(min(k, self.tokens), dim=-1)
                values, ids = values.tolist(), ids.tolist()
            for i, logprob in enumerate(picked):
                self.logprobs[i].append(float(logprob))
                n = self.top_logprobs[i]
                if n:
                    self.top[i].append(list(zip(ids[i][:n], values[i][:n], strict=True)))

    def _draw(logits: Any, truncation: _Truncation, generator: Any) -> Any:
        """One token id from a row's masked logits: the most likely at temperature 0, else a
        draw after the temperature and the truncations."""
        if truncation.temperature == 0:
            return logits.argmax()
        logits = logits / truncation.temperature
        if truncation.top_k is not None and truncation.top_k < logits.shape[-1]:
            kth = logits.topk(truncation.top_k).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if truncation.top_p is not None:
            ordered, order = logits.sort(descending=True)
            probs = ordered.softmax(-1)
            cut = probs.cumsum(-1) - probs >= truncation.top_p  # past the nucleus; first stays
            logits = logits.masked_fill(cut.scatter(0, order, cut), float("-inf"))
        if truncation.min_p is not None:
            probs = logits.softmax(-1)
            logits = logits.masked_fill(probs < truncation.min_p * probs.max(), float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=generator)[0]

    return ConstrainedSampler
