"""The vllm_offline adapter's request building and output reading, against a fake ``vllm``
module (vLLM is CUDA-only and cannot be installed here; the real engine runs on GPU machines)."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, ClassVar

import pytest

from llmlabel.backends import make_backend
from llmlabel.backends.batch import BatchBackend, EngineRequest
from llmlabel.backends.vllm_offline import sampling_params
from llmlabel.core.request import LabelRequest, Message
from llmlabel.core.settings import BackendSpec
from llmlabel.core.spec import TaskSpec
from llmlabel.errors import ContextError, LLMLabelError
from tests.backends.test_batch import CharTokenizer
from tests.test_cli import assert_one_line_error
from tests.test_cli import llmlabel as cli

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, Any] = {"type": "object", "properties": {"label": {"enum": ["a", "b"]}}}


@dataclasses.dataclass
class StructuredOutputsParams:  # vLLM >= 0.10
    json: Any = None
    regex: str | None = None
    disable_any_whitespace: bool = False


@dataclasses.dataclass
class GuidedDecodingParams:  # an older vLLM, before disable_any_whitespace
    json: Any = None
    regex: str | None = None


class SamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class FakeLLM:
    instances: ClassVar[list[FakeLLM]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.calls: list[tuple[list[Any], list[Any], dict[str, Any]]] = []
        FakeLLM.instances.append(self)

    def get_tokenizer(self) -> CharTokenizer:
        return CharTokenizer()

    def generate(self, prompts: list[Any], params: list[Any], **kwargs: Any) -> list[Any]:
        self.calls.append((prompts, params, kwargs))
        return [
            SimpleNamespace(outputs=[output(j, p.kwargs["logprobs"]) for j in range(p.kwargs["n"])])
            for p in params
        ]


def output(j: int, logprobs: int | None) -> SimpleNamespace:
    """A ``CompletionOutput``. With ``logprobs`` k > 0: one token per character (as the fake
    tokenizer spells), each position with vLLM's ``{token id: Logprob}`` (in no order): the
    top k by rank (a grammar-masked ``v`` at -inf last) and the sampled token, which ranks
    6th when it is the label ``b``."""
    text = json.dumps({"label": "ab"[j % 2]})
    if not logprobs:
        return SimpleNamespace(
            text=text,
            token_ids=[7] * (4 + j),
            finish_reason="stop",
            cumulative_logprob=-0.5 * (j + 1),
            logprobs=None,
        )
    ids = [ord(c) for c in text]
    positions = []
    for token in ids:
        ranked = [(ord("x"), -1.0), (ord("y"), -2.0), (ord("z"), -3.0), (ord("v"), -math.inf)]
        if token != ord("b"):
            ranked.insert(0, (token, -0.1))
        position = {i: Logprob(lp, rank) for rank, (i, lp) in enumerate(ranked[:logprobs], 1)}
        position.setdefault(token, Logprob(-4.0, 6))
        positions.append(dict(reversed(position.items())))
    return SimpleNamespace(
        text=text,
        token_ids=ids,
        finish_reason="stop",
        cumulative_logprob=sum(p[t].logprob for p, t in zip(positions, ids, strict=True)),
        logprobs=positions,
    )


@dataclasses.dataclass
class Logprob:  # vllm.logprobs.Logprob
    logprob: float
    rank: int | None
    decoded_token: str | None = "ignored"


def fake_vllm(params_class: type) -> dict[str, ModuleType]:
    vllm = ModuleType("vllm")
    vllm.LLM = FakeLLM  # type: ignore[attr-defined]
    vllm.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    submodule = ModuleType("vllm.sampling_params")
    setattr(submodule, params_class.__name__, params_class)
    return {"vllm": vllm, "vllm.sampling_params": submodule}


@pytest.fixture
def vllm(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    modules = fake_vllm(StructuredOutputsParams)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    FakeLLM.instances.clear()
    yield modules["vllm"]


def engine_request(**kw: Any) -> EngineRequest:
    fields: dict[str, Any] = {
        "prompt_ids": (1, 2, 3),
        "n": 4,
        "temperature": 0.7,
        "seed": 9,
        "max_tokens": 32,
        "json_schema": SCHEMA,
        "logprobs": False,
    }
    return EngineRequest(**(fields | kw))


def test_sampling_params_carry_n_seed_and_the_schema(vllm: ModuleType) -> None:
    params = sampling_params(vllm, engine_request())
    assert params.kwargs == {
        "n": 4,
        "temperature": 0.7,
        "seed": 9,
        "max_tokens": 32,
        "logprobs": None,
        "structured_outputs": StructuredOutputsParams(json=SCHEMA, disable_any_whitespace=True),
    }
    assert sampling_params(vllm, engine_request(logprobs=True)).kwargs["logprobs"] == 0


def test_older_vllm_gets_guided_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    modules = fake_vllm(GuidedDecodingParams)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    params = sampling_params(modules["vllm"], engine_request())
    assert params.kwargs["guided_decoding"] == GuidedDecodingParams(json=SCHEMA)
    assert "structured_outputs" not in params.kwargs


def task(**backend: Any) -> TaskSpec:
    spec = BackendSpec(type="vllm_offline", model="org/model", **backend)
    return TaskSpec(name="t", labels=["a", "b"], backend=spec)


def label_request(text: str, **kw: Any) -> LabelRequest:
    fields: dict[str, Any] = {
        "messages": (Message(role="user", content=text),),
        "json_schema": SCHEMA,
        "n": 2,
        "seed": 3,
        "max_tokens": 16,
    }
    return LabelRequest(**(fields | kw))


def complete_all(backend: BatchBackend, requests: list[LabelRequest]) -> list[Any]:
    async def main() -> list[Any]:
        return await asyncio.gather(
            *(backend.complete(r) for r in requests), return_exceptions=True
        )

    return asyncio.run(main())


def test_pending_requests_go_to_one_generate_call_as_chat_token_ids(vllm: ModuleType) -> None:
    backend = make_backend(task(dtype="bfloat16", n_ctx=2048))
    assert isinstance(backend, BatchBackend) and backend.model_id == "org/model"
    assert backend.batch_size == 256 and backend.name == "vllm_offline"
    (llm,) = FakeLLM.instances
    assert llm.kwargs == {"model": "org/model", "dtype": "bfloat16", "max_model_len": 2048}
    results = complete_all(
        backend, [label_request("one"), label_request("two", n=3, seed=4, logprobs=True)]
    )
    ((prompts, params, options),) = llm.calls
    assert options == {"use_tqdm": False}
    assert prompts == [
        {"prompt_token_ids": [ord(c) for c in f"user: {t}\nassistant: "]} for t in ("one", "two")
    ]
    assert [(p.kwargs["n"], p.kwargs["seed"], p.kwargs["logprobs"]) for p in params] == [
        (2, 3, None),
        (3, 4, 0),
    ]
    one, two = results
    assert [json.loads(s.text)["label"] for s in two.samples] == ["a", "b", "a"]
    assert [s.logprob for s in one.samples] == [None, None]
    assert [s.logprob for s in two.samples] == [-0.5, -1.0, -1.5]
    assert one.usage.prompt_tokens == len("user: one\nassistant: ")
    assert two.usage.completion_tokens == 4 + 5 + 6


def test_a_prompt_longer_than_max_model_len_fails_alone(vllm: ModuleType) -> None:
    backend = make_backend(task(n_ctx=256))
    ok, too_long = complete_all(backend, [label_request("short"), label_request("x" * 250)])
    assert len(ok.samples) == 2
    assert isinstance(too_long, ContextError) and "256-token context" in too_long.message
    ((prompts, _, _),) = FakeLLM.instances[0].calls
    assert len(prompts) == 1


def test_missing_vllm_is_one_error_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(LLMLabelError, match="needs vllm") as caught:
        make_backend(task())
    assert "pip install 'llmlabel[vllm]'" in (caught.value.hint or "")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_the_cli_says_so_in_one_line(tmp_path: Path) -> None:
    result = cli(
        "run", str(ROOT / "examples/sentiment/task.yaml"),
        "-i", str(ROOT / "examples/sentiment/reviews.jsonl"), "-o", str(tmp_path / "o.jsonl"),
        "--backend", "vllm_offline", "--model", "Qwen/Qwen2.5-1.5B-Instruct",
    )  # fmt: skip
    assert_one_line_error(result, "needs vllm", "llmlabel[vllm]")


def test_sampling_params_carry_the_sampler_and_top_logprobs_and_a_probe_goes_free(
    vllm: ModuleType,
) -> None:
    params = sampling_params(
        vllm, engine_request(logprobs=True, top_logprobs=20, top_p=0.9, top_k=0, min_p=0.05)
    )
    assert params.kwargs["logprobs"] == 20
    assert (params.kwargs["top_p"], params.kwargs["top_k"], params.kwargs["min_p"]) == (
        0.9,
        -1,  # none: what every vLLM release accepts
        0.05,
    )
    assert sampling_params(vllm, engine_request(top_k=40)).kwargs["top_k"] == 40
    probe = sampling_params(vllm, engine_request(prefill_tokens=2, max_tokens=1))
    assert "structured_outputs" not in probe.kwargs and probe.kwargs["max_tokens"] == 1


def test_tokens_and_their_alternatives_come_back_with_texts(vllm: ModuleType) -> None:
    backend = make_backend(task())
    scored, probe = complete_all(
        backend,
        [
            label_request("one", logprobs=True, top_logprobs=3),
            label_request("two", n=1, top_logprobs=4, max_tokens=1, prefill='{"label":"'),
        ],
    )
    ((prompts, params, _),) = FakeLLM.instances[0].calls
    assert "".join(map(chr, prompts[1]["prompt_token_ids"])).endswith('assistant: {"label":"')
    assert "structured_outputs" not in params[1].kwargs and params[1].kwargs["logprobs"] == 4
    below = ("x", -1.0), ("y", -2.0), ("z", -3.0)  # "b" was sampled below the top 3
    for sample in scored.samples:
        assert sample.tokens is not None
        assert "".join(t.text for t in sample.tokens) == sample.text
        assert sample.logprob == pytest.approx(sum(t.logprob for t in sample.tokens))
        for token in sample.tokens:
            if token.text == "b":
                assert token.logprob == -4.0 and token.top == below
            else:
                assert token.top == ((token.text, -0.1), *below[:2])
    (first, *_) = probe.samples[0].tokens
    assert first.top == (("{", -0.1), ("x", -1.0), ("y", -2.0), ("z", -3.0))  # -inf left out
