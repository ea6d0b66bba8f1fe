"""The transformers backend on a tiny random Llama built in the test (no download).

Random weights answer noise; xgrammar's schema constraint is what keeps every sample valid, so
these runs check the real decoding path end to end. The ``cuda`` test repeats the labeling run
on a GPU (``python -m pytest -m cuda tests/backends/test_transformers.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.backends import make_backend
from llmlabel.backends.base import Backend
from llmlabel.backends.batch import BatchBackend
from llmlabel.backends.transformers_hf import transformers_backend
from llmlabel.core.request import LabelRequest, Message
from llmlabel.core.settings import BackendSpec
from llmlabel.core.spec import TaskSpec, parse_task
from llmlabel.errors import ConfigError, ContextError, LLMLabelError
from tests.test_cli import assert_one_line_error
from tests.test_cli import llmlabel as cli

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "eval" / "bench"))
from tiny_lm import build_tiny_lm  # noqa: E402

torch = pytest.importorskip("torch")  # the dev extra installs it; a bare install lacks it

TASK = ROOT / "examples" / "sentiment" / "task.yaml"
REVIEWS = ROOT / "examples" / "sentiment" / "reviews.jsonl"
LABELS = ["positive", "negative", "neutral"]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": LABELS}},
    "required": ["label"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="module")
def backend(tiny_lm: Path) -> BatchBackend:
    return transformers_backend(
        BackendSpec(type="transformers", model=str(tiny_lm), device="cpu", threads=2)
    )


def label_request(text: str = "great phone", **kw: Any) -> LabelRequest:
    fields: dict[str, Any] = {
        "messages": (
            Message(role="system", content="Classify the sentiment. Reply with JSON only."),
            Message(role="user", content=f"Text: {text}"),
        ),
        "json_schema": SCHEMA,
        "max_tokens": 48,
        "seed": 11,
        "temperature": 1.0,
    }
    return LabelRequest(**(fields | kw))


def complete_all(backend: BatchBackend, requests: list[LabelRequest]) -> list[Any]:
    async def main() -> list[Any]:
        return await asyncio.gather(
            *(backend.complete(r) for r in requests), return_exceptions=True
        )

    return asyncio.run(main())


def test_samples_are_schema_valid_counted_and_reproducible(backend: BatchBackend) -> None:
    assert isinstance(backend, Backend) and backend.name == "transformers"
    assert backend.model_id.startswith("tiny-lm") and "@" in backend.model_id
    first, again = complete_all(backend, [label_request(n=6, logprobs=True)] * 2)
    labels = [json.loads(s.text)["label"] for s in first.samples]
    assert len(labels) == 6 and set(labels) <= set(LABELS)
    assert len(set(labels)) > 1  # T=1 on random weights: the seeds draw different answers
    assert all(s.finish_reason == "stop" and s.logprob is not None and s.logprob < 0
               for s in first.samples)  # fmt: skip
    # same seed, same prompt: same samples (log-probs up to batched float arithmetic)
    assert [s.text for s in first.samples] == [s.text for s in again.samples]
    assert [s.logprob for s in again.samples] == pytest.approx([s.logprob for s in first.samples])
    prompt = backend.engine.tokenizer.apply_chat_template(
        [m.model_dump() for m in label_request().messages],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert first.usage.prompt_tokens == len(backend.engine.tokenizer(prompt)["input_ids"])
    # every sample's tokens, the end-of-turn token included: the grammar lets the model spell
    # an answer in any tokens, from the tokenizer's own split down to one per byte
    tokens = [len(backend.engine.tokenizer(s.text)["input_ids"]) for s in first.samples]
    assert sum(tokens) + 6 <= first.usage.completion_tokens
    assert first.usage.completion_tokens <= sum(len(s.text.encode()) + 1 for s in first.samples)


def test_a_sample_does_not_depend_on_its_batch_companions(backend: BatchBackend) -> None:
    (alone,) = complete_all(backend, [label_request(n=3)])
    crowd = complete_all(
        backend,
        [label_request(f"other text {i}", n=3, seed=i) for i in range(4)] + [label_request(n=3)],
    )
    assert [s.text for s in crowd[-1].samples] == [s.text for s in alone.samples]


def test_temperature_zero_is_greedy(backend: BatchBackend) -> None:
    results = complete_all(backend, [label_request(n=3, temperature=0.0, seed=s) for s in (1, 2)])
    texts = {s.text for c in results for s in c.samples}
    assert len(texts) == 1 and json.loads(texts.pop())["label"] in LABELS


def test_a_too_long_prompt_fails_alone(backend: BatchBackend) -> None:
    ok, too_long = complete_all(backend, [label_request(), label_request(max_tokens=4090)])
    assert json.loads(ok.samples[0].text)["label"] in LABELS
    assert isinstance(too_long, ContextError) and "4096-token context" in too_long.message


def test_truncation_at_max_tokens_is_reported_as_length(backend: BatchBackend) -> None:
    (cut,) = complete_all(backend, [label_request(max_tokens=3)])
    assert cut.samples[0].finish_reason == "length" and cut.usage.completion_tokens == 3


def test_tokens_report_raw_logprobs_and_alternatives_and_spell_the_text(
    backend: BatchBackend,
) -> None:
    (completion,) = complete_all(backend, [label_request(n=4, logprobs=True, top_logprobs=5)])
    tokenizer = backend.engine.tokenizer
    first = model_logprobs(backend, chat_ids(tokenizer))
    for sample in completion.samples:
        assert sample.tokens is not None and sample.logprob is not None
        assert "".join(t.text for t in sample.tokens) == sample.text
        # every generated token, the stop token (empty text) included, as the sample's logprob
        assert sample.tokens[-1].text == ""
        assert sum(t.logprob for t in sample.tokens) == pytest.approx(sample.logprob)
        for token in sample.tokens:
            logprobs = [lp for _, lp in token.top]
            assert len(token.top) == 5 and logprobs == sorted(logprobs, reverse=True)
            assert token.logprob <= 0 and all(lp <= 0 for lp in logprobs)
        # the model's own distribution, before the grammar (and the temperature)
        start = sample.tokens[0]
        (start_id,) = tokenizer(start.text, add_special_tokens=False)["input_ids"]
        assert start.logprob == pytest.approx(first[start_id].item(), abs=1e-4)
        assert [lp for _, lp in start.top] == pytest.approx(first.topk(5).values.tolist(), abs=1e-4)
    (plain,) = complete_all(backend, [label_request(n=4, logprobs=True)])
    assert all(s.tokens is None for s in plain.samples)
    assert [s.text for s in plain.samples] == [s.text for s in completion.samples]


def model_logprobs(backend: BatchBackend, prompt: list[int]) -> Any:
    """The model's log-probabilities for the token after ``prompt``, computed directly."""
    engine: Any = backend.engine
    with torch.inference_mode():
        logits = engine.model(input_ids=torch.tensor([prompt])).logits[0, -1]
    return torch.log_softmax(logits.float(), dim=-1)


def chat_ids(tokenizer: Any, prefill: str = "") -> list[int]:
    chat = tokenizer.apply_chat_template(
        [m.model_dump() for m in label_request().messages],
        tokenize=False,
        add_generation_prompt=True,
    )
    return list(tokenizer(chat + prefill, add_special_tokens=False)["input_ids"])


def test_a_prefill_is_continued_without_the_grammar(backend: BatchBackend) -> None:
    prefill = '{"label": "pos'
    probes = complete_all(
        backend,
        [
            label_request(prefill=prefill, max_tokens=1, top_logprobs=20, temperature=t)
            for t in (0.0, 1.0)
        ]
        + [label_request("another", n=2)],  # a constrained request in the same batch
    )
    greedy, hot, other = probes
    tokenizer = backend.engine.tokenizer
    assert greedy.usage.prompt_tokens == len(chat_ids(tokenizer, prefill))
    expected = model_logprobs(backend, chat_ids(tokenizer, prefill)).topk(20)
    for probe in (greedy, hot):  # the raw distribution, whatever the temperature
        (sample,) = probe.samples
        assert sample.tokens is not None and len(sample.tokens) == 1
        assert [lp for _, lp in sample.tokens[0].top] == pytest.approx(
            expected.values.tolist(), abs=1e-4
        )
        texts = [_text_after(tokenizer, prefill, i) for i in expected.indices.tolist()]
        assert [text for text, _ in sample.tokens[0].top] == texts
    # greedy without a grammar: the model's own most likely token, first of its alternatives,
    # which no JSON grammar would allow after this prefill
    (chosen,) = greedy.samples[0].tokens or ()
    assert greedy.samples[0].text == chosen.text == texts[0]
    assert chosen.top[0] == (chosen.text, chosen.logprob)
    assert not any(label.startswith("pos" + chosen.text) for label in LABELS)
    assert greedy.samples[0].finish_reason == "length"
    assert all(json.loads(s.text)["label"] in LABELS for s in other.samples)


def _text_after(tokenizer: Any, prefill: str, token: int) -> str:
    ids = tokenizer(prefill, add_special_tokens=False)["input_ids"]
    before = tokenizer.decode(ids, skip_special_tokens=True)
    after = str(tokenizer.decode([*ids, token], skip_special_tokens=True))[len(before) :]
    return after.rstrip("\ufffd")  # a byte of a character still to come: no text yet


def test_top_k_top_p_and_min_p_truncate_the_draw(backend: BatchBackend) -> None:
    (greedy,) = complete_all(backend, [label_request(n=3, temperature=0.0)])
    truncated = complete_all(
        backend,
        [
            label_request(n=3, top_k=1),  # temperature 1, only the most likely allowed token
            label_request(n=3, top_p=1e-6),
            label_request(n=3, min_p=1.0),
        ],
    )
    for completion in truncated:
        assert [s.text for s in completion.samples] == [s.text for s in greedy.samples]
    (loose,) = complete_all(backend, [label_request(n=6, logprobs=True, top_k=0, top_p=1.0)])
    (free,) = complete_all(backend, [label_request(n=6, logprobs=True)])
    assert [s.text for s in loose.samples] == [s.text for s in free.samples]  # 0 / 1.0: none


def label_run(tiny_lm: Path, out: Path, device: str, concurrency: int) -> list[dict[str, Any]]:
    result = llmlabel.label(
        TASK,
        REVIEWS,
        out,
        limit=8,
        cache=False,
        overwrite=True,
        overrides={
            "backend.type": "transformers",
            "backend.model": str(tiny_lm),
            "backend.device": device,
            "samples": 3,
            "temperature": 1.0,
            "concurrency": concurrency,
        },
    )
    assert result.stats.labeled + result.stats.abstained == 8 and result.stats.failed == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def assert_valid_rows(rows: list[dict[str, Any]]) -> None:
    assert len(rows) == 8
    for row in rows:
        assert row["invalid"] == [] and sum(row["votes"].values()) == 3
        assert set(row["votes"]) <= {"positive", "negative"}
        assert row["status"] in ("labeled", "abstained")  # a 1-1-1 split cannot happen: 2 labels
        assert row["label"] in ("positive", "negative")
        assert row["usage"]["prompt_tokens"] > 100 and row["usage"]["completion_tokens"] > 0
        assert row["provenance"]["backend"] == "transformers"


def test_label_runs_end_to_end_and_rows_do_not_depend_on_batching(
    tiny_lm: Path, tmp_path: Path
) -> None:
    batched = label_run(tiny_lm, tmp_path / "batched.jsonl", "cpu", concurrency=8)
    assert_valid_rows(batched)
    one_by_one = label_run(tiny_lm, tmp_path / "single.jsonl", "cpu", concurrency=1)
    votes = {r["id"]: r["votes"] for r in batched}
    assert {r["id"]: r["votes"] for r in one_by_one} == votes


def test_logprob_confidence_gives_label_probabilities(tiny_lm: Path, tmp_path: Path) -> None:
    assert_logprob_rows(tiny_lm, tmp_path / "logprob.jsonl", "cpu")


def assert_logprob_rows(tiny_lm: Path, out: Path, device: str) -> None:
    result = llmlabel.label(
        TASK,
        REVIEWS,
        out,
        limit=4,
        cache=False,
        overrides={
            "backend.type": "transformers",
            "backend.model": str(tiny_lm),
            "backend.device": device,
            "samples": 2,
            "temperature": 1.0,
            "concurrency": 4,
            "confidence": "logprob",
        },
    )
    assert result.stats.failed == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4
    for row in rows:
        assert row["confidence_method"] == "logprob" and "confidence_note" not in row
        assert set(row["probs"]) == {"positive", "negative"}
        assert sum(row["probs"].values()) == pytest.approx(1, abs=1e-5)
        assert row["confidence"] == pytest.approx(max(row["probs"].values()), abs=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_label_runs_end_to_end_on_cuda(tiny_lm: Path, tmp_path: Path) -> None:
    rows = label_run(tiny_lm, tmp_path / "cuda.jsonl", "cuda", concurrency=8)
    assert_valid_rows(rows)
    assert_logprob_rows(tiny_lm, tmp_path / "cuda-logprob.jsonl", "cuda")


def test_the_cli_runs_the_transformers_backend(tiny_lm: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.jsonl"
    result = cli(
        "run", str(TASK), "-i", str(REVIEWS), "-o", str(out), "--limit", "2", "--no-cache",
        "--backend", "transformers", "--model", str(tiny_lm), "--samples", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [sum(r["votes"].values()) for r in rows] == [2, 2]


def test_a_missing_extra_is_one_line_with_the_install_hint(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked" / "xgrammar"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker.parent)}
    result = cli(
        "run", str(TASK), "-i", str(REVIEWS), "-o", str(tmp_path / "o.jsonl"),
        "--backend", "transformers", "--model", str(tmp_path), env=env,
    )  # fmt: skip
    assert_one_line_error(result, "needs xgrammar", "pip install 'llmlabel[transformers]'")


def test_a_folder_without_a_model_is_a_model_error(tmp_path: Path) -> None:
    spec = TaskSpec(
        name="t",
        labels=["a", "b"],
        backend=BackendSpec(type="transformers", model=str(tmp_path), device="cpu"),
    )
    with pytest.raises(LLMLabelError, match="could not load"):
        make_backend(spec)


def test_the_device_must_exist(tiny_lm: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(LLMLabelError, match="no CUDA device"):
        transformers_backend(BackendSpec(type="transformers", model=str(tiny_lm), device="cuda"))


def test_the_task_file_checks_device_and_dtype() -> None:
    base = {"name": "t", "labels": ["a", "b"]}
    spec = parse_task({**base, "backend": {"type": "transformers", "device": "cuda:1"}})
    assert spec.backend.device == "cuda:1" and spec.backend.batch_size is None
    with pytest.raises(ConfigError, match=r"backend\.device"):
        parse_task({**base, "backend": {"type": "transformers", "device": "gpu"}})
    with pytest.raises(ConfigError, match=r"backend\.dtype"):
        parse_task({**base, "backend": {"type": "transformers", "dtype": "fp8"}})


def test_the_gpu_bench_script_runs_on_cpu(tmp_path: Path) -> None:
    """``eval/bench/transformers_cuda.py`` (what runs on a GPU machine), with tiny numbers."""
    out = tmp_path / "bench.md"
    result = subprocess.run(
        [sys.executable, str(ROOT / "eval/bench/transformers_cuda.py"), "--devices", "cpu",
         "--records", "3", "--samples", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| cpu | 3 | 3 |" in out.read_text()
