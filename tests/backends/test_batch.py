"""The batch layer shared by the offline engines, on a fake engine (the real ones have their own
test files): micro-batching of concurrent requests, limits, usage, per-request and fatal errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmlabel.backends.base import Backend
from llmlabel.backends.batch import (
    BatchBackend,
    EngineRequest,
    Generated,
    model_id_for,
    sample_seeds,
)
from llmlabel.backends.tokens import chat_token_ids, prompt_token_ids, token_logprobs
from llmlabel.core.request import LabelRequest, Message, TokenLogprob
from llmlabel.errors import BackendError, ContextError

SCHEMA = {"type": "object", "properties": {"label": {"enum": ["a", "b"]}}}


class CharTokenizer:
    """One token per character; the chat template joins ``role: content`` lines."""

    def apply_chat_template(
        self, messages: list[dict[str, str]], *, tokenize: bool, add_generation_prompt: bool
    ) -> str:
        assert not tokenize and add_generation_prompt
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "

    def __call__(self, text: str, *, add_special_tokens: bool) -> dict[str, list[int]]:
        assert not add_special_tokens
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids: list[int], **kw: Any) -> str:
        assert kw == {"skip_special_tokens": True, "clean_up_tokenization_spaces": False}
        return "".join(map(chr, ids))


class FakeEngine:
    name = "fake"
    model_id = "fake@1"
    tokenizer = CharTokenizer()

    def __init__(self, max_context: int | None = None, fail: Exception | None = None) -> None:
        self.max_context = max_context
        self.fail = fail
        self.calls: list[list[EngineRequest]] = []
        self.closed = False

    def generate(self, requests: Sequence[EngineRequest]) -> list[list[Generated]]:
        self.calls.append(list(requests))
        if self.fail is not None:
            raise self.fail
        return [
            [
                Generated(
                    text=json.dumps({"seed": s}),
                    tokens=3 + j,
                    finish_reason="stop",
                    token_logprobs=(TokenLogprob(text=json.dumps({"seed": s}), logprob=-0.5),),
                )
                for j, s in enumerate(sample_seeds(r.seed, r.n))
            ]
            for r in requests
        ]

    def close(self) -> None:
        self.closed = True


def request(text: str = "hi", **kw: Any) -> LabelRequest:
    fields: dict[str, Any] = {
        "messages": (Message(role="user", content=text),),
        "json_schema": SCHEMA,
        "max_tokens": 8,
        "seed": 5,
    }
    return LabelRequest(**(fields | kw))


def run_all(backend: BatchBackend, requests: list[LabelRequest]) -> list[Any]:
    async def main() -> list[Any]:
        return await asyncio.gather(
            *(backend.complete(r) for r in requests), return_exceptions=True
        )

    return asyncio.run(main())


def test_concurrent_requests_become_one_engine_call() -> None:
    engine = FakeEngine()
    backend = BatchBackend(engine, batch_size=64)
    assert isinstance(backend, Backend) and backend.max_n == 64
    results = run_all(backend, [request(f"r{i}", n=3, seed=i) for i in range(5)])
    assert len(engine.calls) == 1 and len(engine.calls[0]) == 5
    for i, completion in enumerate(results):
        assert [json.loads(s.text)["seed"] for s in completion.samples] == sample_seeds(i, 3)
        assert completion.model == "fake@1"
        # the prompt counted once per request, every sample's tokens
        assert completion.usage.prompt_tokens == len("user: r0\nassistant: ")
        assert completion.usage.completion_tokens == 3 + 4 + 5


def test_batches_hold_at_most_batch_size_samples_in_arrival_order() -> None:
    engine = FakeEngine()
    backend = BatchBackend(engine, batch_size=4, max_n=2)
    results = run_all(backend, [request(f"r{i}", n=2, seed=i) for i in range(5)])
    assert [len(call) for call in engine.calls] == [2, 2, 1]
    prompts = ["".join(map(chr, r.prompt_ids)) for call in engine.calls for r in call]
    assert prompts == [f"user: r{i}\nassistant: " for i in range(5)]
    assert [c.samples[0].text for c in results] == [json.dumps({"seed": i}) for i in range(5)]


def test_a_request_larger_than_max_n_is_refused() -> None:
    backend = BatchBackend(FakeEngine(), batch_size=4, max_n=8)
    assert backend.max_n == 4  # a request must fit one batch
    (error,) = run_all(backend, [request(n=5)])
    assert isinstance(error, BackendError) and "at most 4" in error.message


def test_a_prompt_too_long_fails_alone_and_its_batch_still_runs() -> None:
    engine = FakeEngine(max_context=40)
    backend = BatchBackend(engine, batch_size=16)
    short, long = request("ok"), request("x" * 40)
    ok, error = run_all(backend, [short, long])
    assert ok.samples[0].text == json.dumps({"seed": 5})
    assert isinstance(error, ContextError) and "40-token context" in error.message
    assert len(engine.calls) == 1 and len(engine.calls[0]) == 1


def test_an_engine_failure_is_fatal_for_its_batch_and_every_later_request() -> None:
    engine = FakeEngine(fail=RuntimeError("CUDA out of memory"))
    backend = BatchBackend(engine, batch_size=16)
    errors = run_all(backend, [request("a"), request("b")])
    assert all(isinstance(e, BackendError) and e.fatal for e in errors)
    assert "CUDA out of memory" in errors[0].message and "batch_size" in (errors[0].hint or "")
    (later,) = run_all(backend, [request("c")])
    assert later is errors[0] and len(engine.calls) == 1


def test_aclose_closes_the_engine_and_refuses_more_work() -> None:
    engine = FakeEngine()
    backend = BatchBackend(engine, batch_size=4)
    asyncio.run(backend.aclose())
    assert engine.closed
    (error,) = run_all(backend, [request()])
    assert isinstance(error, BackendError) and "closed" in error.message


def test_chat_token_ids_render_the_template_without_extra_special_tokens() -> None:
    messages = (Message(role="system", content="s"), Message(role="user", content="u"))
    ids = chat_token_ids(CharTokenizer(), messages)
    assert "".join(map(chr, ids)) == "system: s\nuser: u\nassistant: "


def test_sample_seeds_number_choices_like_servers() -> None:
    seeds = [s for first in range(0, 100, 10) for s in sample_seeds(7 + first, 10)]
    assert len(set(seeds)) == 100 and sample_seeds(7, 2) == [7, 8]


def test_model_id_fingerprints_a_folder_and_passes_hub_ids_through(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"x" * 3_000_000)
    first = model_id_for(str(tmp_path))
    assert first.startswith(f"{tmp_path.name}@") and len(first.split("@")[1]) == 12
    (tmp_path / "model.safetensors").write_bytes(b"x" * 2_999_999 + b"y")  # last byte changed
    assert model_id_for(str(tmp_path)) != first
    assert model_id_for("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert model_id_for("Qwen/Qwen2.5-0.5B-Instruct", "a" * 40) == "Qwen/Qwen2.5-0.5B-Instruct@" + (
        "a" * 12
    )


class NoSystemTokenizer(CharTokenizer):
    def apply_chat_template(
        self, messages: list[dict[str, str]], *, tokenize: bool, add_generation_prompt: bool
    ) -> str:
        if messages[0]["role"] == "system":
            raise ValueError("System role not supported")
        return super().apply_chat_template(
            messages, tokenize=tokenize, add_generation_prompt=add_generation_prompt
        )


def test_a_chat_template_that_refuses_the_messages_stops_the_run() -> None:
    engine = FakeEngine()
    engine.tokenizer = NoSystemTokenizer()
    backend = BatchBackend(engine, batch_size=4)
    system = LabelRequest(
        messages=(Message(role="system", content="s"), Message(role="user", content="u")),
        json_schema=SCHEMA,
    )
    (error,) = run_all(backend, [system])
    assert isinstance(error, BackendError) and error.fatal
    assert "System role not supported" in error.message and engine.calls == []


def test_sampler_logprob_and_prefill_settings_reach_the_engine_and_tokens_come_back() -> None:
    engine = FakeEngine()
    backend = BatchBackend(engine, batch_size=8)
    plain, scored, probe = run_all(
        backend,
        [
            request("a"),
            request("b", logprobs=True, top_logprobs=20, top_p=0.9, top_k=40, min_p=0.05),
            request("c", logprobs=True, top_logprobs=20, max_tokens=1, prefill='{"label":"'),
        ],
    )
    first, second, third = engine.calls[0]
    assert (first.top_logprobs, first.top_p, first.top_k, first.min_p) == (0, None, None, None)
    assert (second.top_logprobs, second.top_p, second.top_k, second.min_p) == (20, 0.9, 40, 0.05)
    assert first.prefill_tokens == second.prefill_tokens == 0
    # a probe: the chat prompt, then the prefill as the answer's start
    assert "".join(map(chr, third.prompt_ids)) == 'user: c\nassistant: {"label":"'
    assert third.prefill_tokens == len('{"label":"') and third.max_tokens == 1
    assert probe.usage.prompt_tokens == len(third.prompt_ids)
    assert plain.samples[0].tokens is None  # not asked for
    assert scored.samples[0].tokens == (TokenLogprob(text=scored.samples[0].text, logprob=-0.5),)


class MergingTokenizer(CharTokenizer):
    """Characters, except that ``: {`` is one token: a prefill can merge with the prompt."""

    def __call__(self, text: str, *, add_special_tokens: bool) -> dict[str, list[int]]:
        ids = super().__call__(text, add_special_tokens=add_special_tokens)["input_ids"]
        merged: list[int] = []
        for i in ids:
            if merged[-2:] == [ord(":"), ord(" ")] and i == ord("{"):
                merged[-2:] = [1000]
            else:
                merged.append(i)
        return {"input_ids": merged}


def test_prompt_token_ids_count_the_prefill_tokens() -> None:
    messages = (Message(role="user", content="u"),)
    ids, prefill = prompt_token_ids(CharTokenizer(), messages)
    assert "".join(map(chr, ids)) == "user: u\nassistant: " and prefill == 0
    ids, prefill = prompt_token_ids(CharTokenizer(), messages, '{"a":"')
    assert "".join(map(chr, ids[-prefill:])) == '{"a":"'
    # tokenized as one text: the token across the boundary counts as the prefill's
    ids, prefill = prompt_token_ids(MergingTokenizer(), messages, '{"a":"')
    assert ids[-prefill:] == [1000, *map(ord, '"a":"')]


class PieceTokenizer:
    """UTF-8 bytes as ids (256: a special token); like SentencePiece, a text's leading space is
    dropped, and like byte-level BPE an incomplete character decodes as U+FFFD."""

    def decode(self, ids: list[int], **kw: Any) -> str:
        text = bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")
        return text.removeprefix(" ")


def engine_request(prompt: str = "", prefill: str = "") -> EngineRequest:
    ids = tuple((prompt + prefill).encode())
    return EngineRequest(
        prompt_ids=ids,
        n=1,
        temperature=0.0,
        seed=0,
        max_tokens=32,
        json_schema=SCHEMA,
        logprobs=True,
        top_logprobs=2,
        prefill_tokens=len(prefill.encode()),
    )


def test_token_texts_spell_the_answer_and_alternatives_say_what_they_would_add() -> None:
    answer = [*'{"a": "café ok"}'.encode(), 256]
    top = [[(i, -0.1), (ord("x"), -2.0)] for i in answer]
    tokens = token_logprobs(
        PieceTokenizer(), engine_request("prompt"), answer, [-0.1] * len(answer), top
    )
    assert "".join(t.text for t in tokens) == '{"a": "café ok"}'
    assert [t.text for t in tokens][9:13] == ["f", "", "é", " "]  # é is two bytes
    assert tokens[11].top == (("é", -0.1), ("\ufffdx", -2.0))  # x cannot follow 0xC3
    assert all(t.top == ((t.text, -0.1), ("x", -2.0)) for t in tokens[:11] + tokens[12:])
    assert tokens[-1].text == ""  # the special stop token
    # a probe: what follows the prefill, whose leading space the decoder would drop alone
    (after,) = token_logprobs(
        PieceTokenizer(),
        engine_request("prompt", ' "c'),
        [ord("a")],
        [-0.3],
        [[(ord("a"), -0.3), (ord(" "), -1.0), (0xC3, -2.0)]],
    )
    assert after == TokenLogprob(text="a", logprob=-0.3, top=(("a", -0.3), (" ", -1.0), ("", -2.0)))
