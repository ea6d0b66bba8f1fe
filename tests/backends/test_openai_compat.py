"""The openai_compat backend against a real llama.cpp server and a scripted stub (both on
127.0.0.1); the openai client itself is never mocked. Retries are the runner's policy
(``llmlabel.runs.retrying``), which ``complete`` wraps the backend in as the runner does."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from llmlabel.backends.base import Backend
from llmlabel.backends.openai_compat import OpenAICompatBackend
from llmlabel.core.request import Completion, LabelRequest, Message
from llmlabel.core.settings import BackendSpec, StructuredOutput
from llmlabel.errors import BackendError, ConfigError
from llmlabel.runs.retrying import RetryPolicy
from tests.stub_server import Reply, StubServer, error

LABELS = ["positive", "negative", "neutral"]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": LABELS}},
    "required": ["label"],
    "additionalProperties": False,
}
T = TypeVar("T")


def label_request(**overrides: Any) -> LabelRequest:
    fields: dict[str, Any] = {
        "messages": (
            Message(role="system", content="Classify the sentiment. Reply with JSON only."),
            Message(role="user", content="Text: I love this phone, it is wonderful."),
        ),
        "json_schema": SCHEMA,
        "max_tokens": 48,
        "seed": 7,
    }
    return LabelRequest(**(fields | overrides))


class Sleeps:
    """Injected in place of asyncio.sleep: records the backoff delays, waits for none."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def with_backend(
    url: str,
    use: Callable[[OpenAICompatBackend], Awaitable[T]],
    *,
    model: str = "stub-model",
    mode: StructuredOutput = "json_schema",
    timeout: float = 30.0,
    max_n: int | None = None,
) -> T:
    spec = BackendSpec.model_validate(
        {
            "type": "openai_compat",
            "base_url": url,
            "model": model,
            "structured_output": mode,
            "timeout": timeout,
            "max_n": max_n,
        }
    )

    async def main() -> T:
        backend = OpenAICompatBackend(spec)
        try:
            return await use(backend)
        finally:
            await backend.aclose()

    return asyncio.run(main())


def complete(
    url: str,
    request: LabelRequest | None = None,
    *,
    attempts: int = 6,
    sleep: Sleeps | None = None,
    **kw: Any,
) -> Completion:
    """One request through the backend under the runner's retry policy."""
    req = request or label_request()
    policy = RetryPolicy(attempts=attempts, sleep=sleep or Sleeps())
    return with_backend(url, lambda b: policy.call(lambda: b.complete(req)), **kw)


def labels_of(completion: Completion) -> list[str]:
    return [json.loads(s.text)["label"] for s in completion.samples]


# --- a real llama.cpp server (SmolLM2-135M) ---------------------------------------------------


@pytest.fixture(scope="module")
def llama_server(embedded_server_url: str) -> tuple[str, int]:
    """(``/v1`` URL, slot count) of the session's real llama.cpp server (conftest)."""
    return embedded_server_url, _total_slots(embedded_server_url)


def _total_slots(url: str) -> int:
    """llama.cpp's ``GET /props`` reports its slot count, the most ``n`` it accepts."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/props", timeout=10) as response:
        return int(json.load(response)["total_slots"])


@pytest.fixture
def llama_url(llama_server: tuple[str, int]) -> str:
    return llama_server[0]


def test_the_backend_implements_the_protocol() -> None:
    spec = BackendSpec.model_validate(
        {"type": "openai_compat", "base_url": "http://127.0.0.1:9/v1", "model": "m", "max_n": 5}
    )
    backend = OpenAICompatBackend(spec)  # no request is sent
    assert isinstance(backend, Backend)
    assert (backend.name, backend.model_id, backend.max_n) == ("openai_compat", "m", 5)
    asyncio.run(backend.aclose())


REAL = 600.0
"""The real server's timeout: generation on a loaded 2-core machine can take over 30 s."""


def test_real_server_n_samples_are_valid_json_under_an_enum_schema(llama_url: str) -> None:
    done = complete(llama_url, label_request(n=3, temperature=0.7), timeout=REAL)
    assert len(done.samples) == 3
    assert all(label in LABELS for label in labels_of(done))
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0


def test_real_server_temperature_zero_is_deterministic(llama_url: str) -> None:
    first = complete(llama_url, label_request(temperature=0.0), timeout=REAL)
    again = complete(llama_url, label_request(temperature=0.0, seed=99), timeout=REAL)
    assert first.samples[0].text == again.samples[0].text
    assert labels_of(first)[0] in LABELS


def test_real_server_logprobs_are_summed_per_sample(llama_url: str) -> None:
    done = complete(llama_url, label_request(n=2, temperature=0.7, logprobs=True), timeout=REAL)
    assert [s.logprob is not None and s.logprob < 0 for s in done.samples] == [True, True]


def test_real_server_n_above_its_slots_is_split_and_the_cap_remembered(
    llama_server: tuple[str, int],
) -> None:
    url, slots = llama_server

    async def use(backend: OpenAICompatBackend) -> tuple[Completion, int]:
        done = await backend.complete(label_request(n=slots + 1, temperature=0.7))
        return done, backend.max_n

    done, max_n = with_backend(url, use, max_n=slots + 1, timeout=REAL)
    assert len(done.samples) == slots + 1
    assert all(label in LABELS for label in labels_of(done))
    assert max_n == slots  # learned from the server's 400 "1 <= value <= <slots>"


# --- a scripted stub server ------------------------------------------------------------------


@pytest.mark.parametrize(("header", "value"), [("Retry-After", "0.2"), ("retry-after-ms", "200")])
def test_429_waits_as_long_as_retry_after_says(header: str, value: str) -> None:
    sleeps = Sleeps()
    with StubServer([error(429, "slow down", "rate_limit", headers={header: value})]) as stub:
        done = complete(stub.url, sleep=sleeps)
        assert stub.calls == 2
    assert len(done.samples) == 1
    assert sleeps.delays == [pytest.approx(0.2)]


def test_server_errors_are_retried_with_bounded_backoff() -> None:
    sleeps = Sleeps()
    with StubServer([error(500, "boom", "server_error"), error(503, "busy")]) as stub:
        done = complete(stub.url, sleep=sleeps)
        assert stub.calls == 3
    assert labels_of(done) == ["positive"]
    assert len(sleeps.delays) == 2 and all(0 <= d <= 60 for d in sleeps.delays)


def test_retries_stop_after_the_attempts_and_the_error_stays_retryable() -> None:
    with StubServer(lambda body: error(503, "still loading")) as stub:
        with pytest.raises(BackendError) as caught:
            complete(stub.url, attempts=3)
        assert stub.calls == 3
    assert caught.value.retryable and not caught.value.fatal
    assert "still loading" in caught.value.message and "3 attempts" in caught.value.message


def test_a_timeout_is_retried() -> None:
    with StubServer([Reply(delay=1.0)]) as stub:
        done = complete(stub.url, timeout=0.2)
        assert stub.calls == 2
    assert len(done.samples) == 1


def test_the_timeout_bounds_the_whole_request_not_each_read() -> None:
    with StubServer([Reply(trickle=0.1)]) as stub:  # a byte every 0.1 s: about 30 s in all
        started = time.monotonic()
        with pytest.raises(BackendError) as caught:
            complete(stub.url, timeout=1.0, attempts=1)
        assert time.monotonic() - started < 5
    assert "timed out after 1s" in caught.value.message and caught.value.retryable


def test_context_length_is_not_retried_and_says_what_to_do() -> None:
    too_long = error(
        400,
        "request (3031 tokens) exceeds the available context size (1024 tokens)",
        "exceed_context_size_error",
    )
    with StubServer([too_long]) as stub:
        with pytest.raises(BackendError) as caught:
            complete(stub.url)
        assert stub.calls == 1
    exc = caught.value
    assert not exc.retryable and not exc.fatal
    assert "context" in exc.message and "3031 tokens" in exc.message
    assert exc.hint is not None and "shorten" in exc.hint


def test_other_bad_requests_carry_the_server_message() -> None:
    with StubServer([error(400, "unknown field 'guided_json'")]) as stub:
        with pytest.raises(BackendError) as caught:
            complete(stub.url, mode="guided_json")
        assert stub.calls == 1
    assert "unknown field 'guided_json'" in caught.value.message
    assert not caught.value.retryable and not caught.value.fatal


def test_bad_api_key_is_fatal_and_names_the_env_var() -> None:
    with StubServer([error(401, "Invalid API key", "authentication_error")]) as stub:
        with pytest.raises(BackendError) as caught:
            complete(stub.url)
        assert stub.calls == 1
    exc = caught.value
    assert exc.fatal and f"authentication failed at {stub.url}" in exc.message
    assert exc.hint is not None and "OPENAI_API_KEY" in exc.hint


def test_unknown_model_is_fatal_with_a_hint_to_list_models() -> None:
    with StubServer(models=["Qwen/Qwen2.5-1.5B-Instruct"]) as stub:
        with pytest.raises(BackendError) as caught:
            complete(stub.url, model="qwen-typo")
        assert stub.calls == 1
    exc = caught.value
    assert exc.fatal and "qwen-typo" in exc.message and "does not exist" in exc.message
    assert exc.hint is not None and f"{stub.url}/models" in exc.hint


def test_connection_refused_is_fatal_after_the_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"  # closed: nothing listens there now
    sleeps = Sleeps()
    with pytest.raises(BackendError) as caught:
        complete(url, attempts=3, sleep=sleeps)
    exc = caught.value
    assert exc.fatal and f"cannot reach {url}" in exc.message
    assert exc.hint is not None and "base-url" in exc.hint
    assert len(sleeps.delays) == 2


def test_fewer_choices_than_asked_are_topped_up_with_other_seeds() -> None:
    with StubServer([Reply(choices=1), Reply(choices=1)]) as stub:
        done = complete(stub.url, label_request(n=3, temperature=0.7))
        bodies = stub.bodies
    assert len(done.samples) == 3
    assert [b["n"] for b in bodies] == [3, 2, 1]
    assert len({b["seed"] for b in bodies}) == 3 and bodies[0]["seed"] == 7
    per_call = sum(len(m["content"]) for m in bodies[0]["messages"]) // 4 + 1
    assert done.usage.prompt_tokens == 3 * per_call  # usage summed over the top-ups


def test_an_n_cap_error_splits_the_request() -> None:
    def script(body: dict[str, Any]) -> Reply | None:
        if body["n"] > 2:
            return error(400, "Invalid 'n': integer above maximum value. Expected <= 2", param="n")
        return None

    async def use(backend: OpenAICompatBackend) -> tuple[Completion, int]:
        return await backend.complete(label_request(n=5)), backend.max_n

    with StubServer(script) as stub:
        done, max_n = with_backend(stub.url, use)
        assert [b["n"] for b in stub.bodies] == [5, 2, 2, 1]
    assert len(done.samples) == 5 and max_n == 2


def test_sampling_settings_and_logprobs_go_through() -> None:
    request = label_request(n=2, temperature=0.5, max_tokens=20, logprobs=True)
    with StubServer() as stub:
        done = complete(stub.url, request, max_n=4)
        body = stub.bodies[0]
    assert (body["n"], body["temperature"], body["max_tokens"], body["seed"]) == (2, 0.5, 20, 7)
    assert body["logprobs"] is True and body["model"] == "stub-model"
    assert body["messages"][-1] == {"role": "user", "content": request.messages[-1].content}
    assert [s.logprob for s in done.samples] == [-0.75, -0.75]
    assert done.model == "stub-model" and done.usage.completion_tokens > 0


@pytest.mark.parametrize(
    ("mode", "field", "value"),
    [
        (
            "json_schema",
            "response_format",
            {
                "type": "json_schema",
                "json_schema": {"name": "label", "schema": SCHEMA, "strict": True},
            },
        ),
        ("structured_outputs", "structured_outputs", {"json": SCHEMA}),
        ("guided_json", "guided_json", SCHEMA),
    ],
)
def test_structured_output_mode_puts_the_schema_in_its_field(
    mode: StructuredOutput, field: str, value: Any
) -> None:
    with StubServer() as stub:
        done = complete(stub.url, mode=mode)
        body = stub.bodies[0]
    assert body[field] == value
    others = {"response_format", "structured_outputs", "guided_json"} - {field}
    assert not others & body.keys()
    assert labels_of(done) == ["positive"]


def test_llguidance_options_go_to_vllm_but_not_to_openai_strict_mode() -> None:
    guided = {**SCHEMA, "x-guidance": {"item_separator": ", "}}
    request = label_request(json_schema=guided)
    with StubServer() as stub:
        complete(stub.url, request, mode="json_schema")
        complete(stub.url, request, mode="structured_outputs")
        openai_body, vllm_body = stub.bodies
    assert openai_body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert vllm_body["structured_outputs"] == {"json": guided}


def test_mode_none_sends_no_constraint() -> None:
    with StubServer() as stub:
        complete(stub.url, mode="none")
        body = stub.bodies[0]
    assert not {"response_format", "structured_outputs", "guided_json"} & body.keys()


def test_a_remote_url_without_a_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMLABEL_TEST_KEY", raising=False)
    remote = {"type": "openai_compat", "base_url": "https://llm.example.com/v1", "model": "m"}
    spec = BackendSpec.model_validate(remote | {"api_key_env": "LLMLABEL_TEST_KEY"})
    with pytest.raises(ConfigError) as caught:
        OpenAICompatBackend(spec)
    assert "LLMLABEL_TEST_KEY" in (caught.value.hint or "")
    with pytest.raises(ConfigError):
        OpenAICompatBackend(BackendSpec.model_validate({"type": "openai_compat"}))  # no base_url


# --- sampler, seeds and label probes in the request body --------------------------------------


def test_sampler_seeds_and_probes_reach_the_body() -> None:
    request = label_request(n=3, seed=10, top_p=1.0, top_k=0, min_p=0.0, logprobs=True)
    with StubServer([Reply(choices=2), Reply(choices=1)]) as stub:
        done = complete(stub.url, request, max_n=2)
        assert len(done.samples) == 3
        first, second = stub.bodies
        assert (first["top_p"], first["top_k"], first["min_p"]) == (1.0, 0, 0.0)
        # choice i is seeded seed + i by the server: the second request continues at seed + 2
        assert (first["seed"], first["n"], second["seed"], second["n"]) == (10, 2, 12, 1)
    probe = label_request(prefill='{"label": "pos', logprobs=True, top_logprobs=20, max_tokens=1)
    with StubServer([Reply()]) as stub:
        complete(stub.url, probe)
        (body,) = stub.bodies
        assert body["messages"][-1] == {"role": "assistant", "content": '{"label": "pos'}
        assert body["continue_final_message"] is True and body["top_logprobs"] == 20
        assert "response_format" not in body  # the schema's grammar starts at '{'


def _hosted_openai(body: dict[str, Any]) -> Reply | None:
    """Hosted OpenAI's answer to fields it does not know: HTTP 400, nothing generated."""
    if "continue_final_message" in body:
        return error(
            400,
            "Unrecognized request argument supplied: continue_final_message",
            param="continue_final_message",
            code=None,
        )
    return None


def test_a_server_that_refuses_probes_is_asked_once(caplog: pytest.LogCaptureFixture) -> None:
    probe = label_request(prefill='{"label": "pos', logprobs=True, top_logprobs=20, max_tokens=1)

    async def use(backend: OpenAICompatBackend) -> list[str]:
        said = []
        for _ in range(3):
            with pytest.raises(BackendError) as caught:
                await backend.complete(probe)
            assert not caught.value.fatal and not caught.value.retryable
            said.append(str(caught.value))
        answer = await backend.complete(label_request(logprobs=True, top_logprobs=20))
        assert len(answer.samples) == 1  # answers (not probes) go on as before
        return said

    with StubServer(_hosted_openai) as stub, caplog.at_level("WARNING", "llmlabel"):
        said = with_backend(stub.url, use)
        assert stub.calls == 2  # one refused probe, one answer: later probes are not sent
    assert all("does not continue a prefilled answer" in s for s in said)
    warnings = [r for r in caplog.records if "refuses label probes" in r.getMessage()]
    assert len(warnings) == 1 and "continue_final_message" in warnings[0].getMessage()


def test_a_context_error_on_a_probe_is_not_a_refusal() -> None:
    probe = label_request(prefill='{"label": "pos', logprobs=True, top_logprobs=20, max_tokens=1)
    too_long = error(
        400, "This model's maximum context length is 8 tokens", code="context_length_exceeded"
    )
    with StubServer([too_long, Reply()]) as stub:

        async def use(backend: OpenAICompatBackend) -> int:
            with pytest.raises(BackendError):
                await backend.complete(probe)
            return len((await backend.complete(probe)).samples)

        assert with_backend(stub.url, use) == 1 and stub.calls == 2


def test_hosted_apis_get_only_top_p(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = BackendSpec(type="openai_compat", base_url="https://api.example.com/v1", model="m")
    monkeypatch.setenv(spec.api_key_env, "sk-test")
    backend = OpenAICompatBackend(spec)
    body = backend._body(label_request(top_p=1.0, top_k=0, min_p=0.0), 1, 0)
    assert body["top_p"] == 1.0 and "top_k" not in body and "min_p" not in body
    asyncio.run(backend.aclose())
