"""The embedded backend: llama.cpp in process on the real SmolLM2-135M model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmlabel import models
from llmlabel.backends.base import Backend
from llmlabel.backends.embedded import EmbeddedBackend, _Slots
from llmlabel.core.request import Completion, LabelRequest, Message
from llmlabel.core.settings import BackendSpec
from llmlabel.errors import BackendError, ModelError

LABELS = ["positive", "negative", "neutral"]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": LABELS}},
    "required": ["label"],
    "additionalProperties": False,
}


def label_request(text: str = "I love this phone, it is wonderful.", **kw: Any) -> LabelRequest:
    fields: dict[str, Any] = {
        "messages": (
            Message(role="system", content="Classify the sentiment. Reply with JSON only."),
            Message(role="user", content=f"Text: {text}"),
        ),
        "json_schema": SCHEMA,
        "max_tokens": 32,
        "seed": 7,
    }
    return LabelRequest(**(fields | kw))


@pytest.fixture(scope="module")
def backend(smollm2_path: Path) -> Iterator[EmbeddedBackend]:
    spec = BackendSpec(model=str(smollm2_path), parallel=2, n_ctx=512, threads=2)
    live = EmbeddedBackend(spec, progress=False)
    yield live
    asyncio.run(live.aclose())


def complete(backend: EmbeddedBackend, request: LabelRequest) -> Completion:
    return asyncio.run(backend.complete(request))


def test_it_implements_the_protocol_and_names_the_model_by_hash(
    backend: EmbeddedBackend, smollm2_path: Path
) -> None:
    assert isinstance(backend, Backend)
    assert backend.name == "embedded" and backend.max_n == 2
    info = models.MODELS[models.TEST_MODEL]
    assert backend.model_id == f"{smollm2_path.name}@{info.sha256[:12]}"


def test_n_samples_in_one_request_are_schema_valid(backend: EmbeddedBackend) -> None:
    done = complete(backend, label_request(n=2, temperature=1.0))
    assert len(done.samples) == 2
    for sample in done.samples:
        assert json.loads(sample.text)["label"] in LABELS
        # fixed separators, as the few-shot examples show them: no whitespace runs
        assert sample.text == json.dumps(json.loads(sample.text), ensure_ascii=False)
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0


def test_n_samples_cost_one_prefill_and_records_share_the_cached_prefix(
    backend: EmbeddedBackend,
) -> None:
    def evaluated(text: str) -> tuple[float, int]:
        before = backend.metrics()["prompt_tokens_total"]
        done = complete(backend, label_request(text=text, n=2, temperature=1.0))
        return backend.metrics()["prompt_tokens_total"] - before, done.usage.prompt_tokens

    first, prompt = evaluated("The phone arrived early and works perfectly.")
    assert 0 < first <= prompt  # two samples, the prompt evaluated once
    second, prompt = evaluated("The phone arrived broken and support never answered.")
    assert 0 < second < prompt / 2  # only the new record's tokens; the system prompt was cached


def test_concurrent_multi_sample_requests_wait_for_free_slots(backend: EmbeddedBackend) -> None:
    # Counted as one slot each, two 2-sample requests on 2 slots deadlocked until the timeout.
    async def both() -> list[Completion]:
        texts = ("Lovely screen.", "Awful battery.")
        return list(
            await asyncio.gather(*(backend.complete(label_request(text=t, n=2)) for t in texts))
        )

    assert [len(done.samples) for done in asyncio.run(both())] == [2, 2]


def test_slots_are_taken_first_come_first_served_and_given_back_on_cancel() -> None:
    async def scenario() -> list[str]:
        slots, order = _Slots(3), []
        await slots.take(2)

        async def want(name: str, n: int) -> None:
            await slots.take(n)
            order.append(name)

        big = asyncio.create_task(want("big", 3))
        small = asyncio.create_task(want("small", 1))  # fits, but waits behind big
        gone = asyncio.create_task(want("gone", 1))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        assert order == [] and slots.free == 1
        slots.give(2)
        await asyncio.sleep(0)
        assert order == ["big"] and slots.free == 0
        slots.give(3)
        await asyncio.gather(big, small)
        assert slots.free == 2 and gone.cancelled()
        return order

    assert asyncio.run(scenario()) == ["big", "small"]


def test_temperature_zero_gives_the_same_answer_twice(backend: EmbeddedBackend) -> None:
    first = complete(backend, label_request(temperature=0.0))
    again = complete(backend, label_request(temperature=0.0, seed=123))
    assert first.samples[0].text == again.samples[0].text


def test_logprobs_are_summed_per_sample(backend: EmbeddedBackend) -> None:
    done = complete(backend, label_request(n=2, temperature=0.7, logprobs=True))
    assert all(s.logprob is not None and s.logprob <= 0 for s in done.samples)


def test_more_samples_than_slots_is_refused_with_a_hint(backend: EmbeddedBackend) -> None:
    with pytest.raises(BackendError) as caught:
        complete(backend, label_request(n=3))
    assert "at most 2" in caught.value.message and caught.value.hint


def test_a_record_longer_than_the_context_says_so_and_is_not_retried(
    backend: EmbeddedBackend,
) -> None:
    with pytest.raises(BackendError) as caught:
        complete(backend, label_request(text="word " * 2000))
    error = caught.value
    assert "context" in error.message and "n_ctx" in (error.hint or "")
    assert not error.retryable and not error.fatal


def test_an_unknown_model_name_suggests_the_closest() -> None:
    with pytest.raises(ModelError) as caught:
        EmbeddedBackend(BackendSpec(model="smollm2-13m"), progress=False)
    assert caught.value.hint == "did you mean 'smollm2-135m'?"


def test_a_missing_gguf_path_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        EmbeddedBackend(BackendSpec(model=str(tmp_path / "nope.gguf")), progress=False)


def test_a_closed_backend_refuses_requests(smollm2_path: Path) -> None:
    spec = BackendSpec(model=str(smollm2_path), parallel=1, n_ctx=256, threads=1)
    live = EmbeddedBackend(spec, progress=False)
    asyncio.run(live.aclose())
    with pytest.raises(BackendError, match="closed"):
        complete(live, label_request())
