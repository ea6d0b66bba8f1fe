"""``plan`` (``--dry-run``) and ``preview`` count what a run will do: its requests exactly, and
its prompt tokens as the backend counts them (the embedded llama.cpp, a llama.cpp server, a
vLLM server's ``/tokenize``), estimated where the backend cannot count."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmlabel import api
from llmlabel.backends.openai_compat import OpenAICompatBackend
from llmlabel.core.request import LabelRequest
from llmlabel.core.settings import BackendSpec
from llmlabel.core.spec import parse_task
from llmlabel.runs.plan import ESTIMATED
from tests.fakes import FakeBackend
from tests.stub_server import StubServer

TEXTS = {"1": "great product", "2": "awful, broke in a day", "3": "fine I guess", "4": "love it"}


def write_input(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in TEXTS.items()))
    return path


def task(**extra: Any) -> Any:
    return parse_task(
        {"name": "t", "labels": ["positive", "negative"], "confidence": "vote", **extra}
    )


def positive(request: LabelRequest, i: int) -> str:
    return '{"label": "positive"}'


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"samples": 5, "temperature": 0.7, "backend": {"max_n": 2}},
        {"samples": 6, "temperature": 0.7, "backend": {"max_n": 4}},
    ],
    ids=["one-sample", "five-in-rounds-of-two", "six-in-rounds-of-four"],
)
def test_the_plan_counts_the_requests_a_run_makes(tmp_path: Path, settings: dict[str, Any]) -> None:
    spec, source = task(**settings), write_input(tmp_path)
    backend = FakeBackend(positive, max_n=spec.backend.max_n or 8)
    plan = api.plan(spec, source)
    result = api.label(spec, source, tmp_path / "out.jsonl", backend=backend, cache=False)
    assert plan.requests == result.stats.requests == len(backend.requests)
    assert plan.requests_max == plan.requests + 4 * spec.samples * spec.retries.reask


def test_a_backend_without_a_tokenizer_gives_an_estimate_and_says_so(tmp_path: Path) -> None:
    plan = api.plan(task(), write_input(tmp_path), count_tokens=True, backend=FakeBackend(positive))
    assert plan.tokens_counted_by == ESTIMATED and not plan.tokens_exact
    assert any("fake backend has no tokenizer" in note for note in plan.notes)
    assert plan.prompt_tokens > plan.prompt_tokens_uncached > 0


def test_embedded_counts_are_the_tokens_the_run_sends(tmp_path: Path, smollm2_path: Path) -> None:
    spec = task(backend={"model": str(smollm2_path), "n_ctx": 2048, "parallel": 2})
    source = write_input(tmp_path)
    plan = api.plan(spec, source, count_tokens=True)
    assert plan.tokens_exact and "embedded" in plan.tokens_counted_by
    result = api.label(spec, source, tmp_path / "out.jsonl", cache=False)
    assert plan.prompt_tokens == result.stats.usage.prompt_tokens
    # Four records share the instructions and few-shot part: caching saves most of it.
    assert 0 < plan.prompt_tokens_uncached < plan.prompt_tokens / 2
    shown, _ = api.preview(spec, source, n=2, count_tokens=True)
    per_record = plan.prompt_tokens // plan.records
    assert all(p.prompt_tokens and abs(p.prompt_tokens - per_record) < 10 for p in shown)


def test_a_llama_cpp_server_counts_as_the_embedded_model(
    tmp_path: Path, smollm2_path: Path, embedded_server_url: str
) -> None:
    source = write_input(tmp_path)
    local = api.plan(task(backend={"model": str(smollm2_path)}), source, count_tokens=True)
    served = task(backend={"type": "openai_compat", "base_url": embedded_server_url, "model": "m"})
    plan = api.plan(served, source, count_tokens=True)
    assert plan.tokens_exact and plan.prompt_tokens == local.prompt_tokens


def test_a_vllm_server_counts_with_its_tokenize_endpoint(tmp_path: Path) -> None:
    def words(messages: list[dict[str, Any]]) -> list[int]:
        return list(range(sum(len(m["content"].split()) + 2 for m in messages)))

    source = write_input(tmp_path)
    with StubServer(tokenize=words) as stub:
        spec = task(backend={"type": "openai_compat", "base_url": stub.url, "model": "m"})
        plan = api.plan(spec, source, count_tokens=True)
        messages = [api.preview(spec, source, n=4)[0][i].messages for i in range(4)]
    expected = sum(len(words([m.as_dict() for m in ms])) for ms in messages)
    assert plan.tokens_exact and plan.prompt_tokens == expected


def test_a_server_without_a_tokenize_endpoint_is_estimated(tmp_path: Path) -> None:
    with StubServer() as stub:  # a hosted API: no /tokenize, no /apply-template
        spec = task(backend={"type": "openai_compat", "base_url": stub.url, "model": "m"})
        backend = OpenAICompatBackend(BackendSpec(type="openai_compat", base_url=stub.url))
        plan = api.plan(spec, write_input(tmp_path), count_tokens=True, backend=backend)
    assert not plan.tokens_exact
    assert any("offers no tokenize endpoint" in note for note in plan.notes)
    assert stub.calls == 0  # counting asked for no answer


def test_an_unreachable_server_still_plans(tmp_path: Path) -> None:
    spec = task(backend={"type": "openai_compat", "base_url": "http://127.0.0.1:9/v1"})
    plan = api.plan(spec, write_input(tmp_path), count_tokens=True)
    assert plan.records == 4 and not plan.tokens_exact


def test_a_shortlist_task_is_planned_and_previewed_with_each_records_labels(
    tmp_path: Path,
) -> None:
    labels = ["refund", "delivery", "password", "invoice", "cancel"]
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "1", "text": "where is my delivery? delivery late"}) + "\n")
    spec = parse_task({"name": "t", "labels": labels, "shortlist": {"k": 2, "embedder": "tfidf"}})
    shown, _ = api.preview(spec, source, n=1)
    assert shown[0].shortlist is not None and "delivery" in shown[0].shortlist
    assert len(shown[0].shortlist) == 2
    system = shown[0].messages[0].content
    assert all(label in system for label in shown[0].shortlist)
    assert not any(label in system for label in set(labels) - set(shown[0].shortlist))
    whole = api.plan(parse_task({"name": "t", "labels": labels}), source)
    assert api.plan(spec, source).prompt_tokens < whole.prompt_tokens
