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
    chat_token_ids,
    model_id_for,
    sample_seeds,
)
from llmlabel.core.request import LabelRequest, Message
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
                Generated(text=json.dumps({"seed": s}), tokens=3 + j, finish_reason="stop")
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
