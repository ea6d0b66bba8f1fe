"""``bias_correction: pool`` on a constructed case with a known answer: a toy model that leans
to one label on every record, so its most probable label is that one everywhere; dividing out
the mean distribution of the first records (batch calibration) gives each record its own."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.core import labelprobs
from llmlabel.core.request import Completion, LabelRequest, Sample, TokenLogprob, Usage
from llmlabel.errors import ConfigError
from llmlabel.io.cache import NullCache
from llmlabel.io.readers import InputRecord, read_records
from llmlabel.io.sink import ListSink
from llmlabel.runs import distribution
from llmlabel.runs.committee import first_records, make_runner
from llmlabel.task import load

HEAD = '{"label": "'
CAT = {"meow": 0.9, "woof": 0.6}
"""The toy model's probability of ``cat`` by the word in the record: a dog record still gets
``cat`` as its most probable label (0.6), but less so than a cat record (0.9)."""


class LeaningBackend:
    """Greedy answers with each token's alternatives, as llama.cpp gives them."""

    name = "toy"
    max_n = 4
    model_id = "toy"

    def __init__(self) -> None:
        self.requests = 0

    async def complete(self, request: LabelRequest) -> Completion:
        self.requests += 1
        text = request.messages[-1].content
        cat = next(p for word, p in CAT.items() if word in text)
        top = (("cat", math.log(cat)), ("dog", math.log(1 - cat)))
        best = "cat" if cat >= 0.5 else "dog"
        tokens = (
            TokenLogprob(text=HEAD, logprob=0.0, top=((HEAD, 0.0),)),
            TokenLogprob(text=best, logprob=dict(top)[best], top=top),
            TokenLogprob(text='"}', logprob=0.0, top=(('"}', 0.0),)),
        )
        sample = Sample(text=HEAD + best + '"}', tokens=tokens)
        return Completion(samples=(sample,) * request.n, usage=Usage(prompt_tokens=10))

    async def aclose(self) -> None:
        pass


RECORDS = [{"id": f"r{i}", "text": "It said " + ("meow" if i % 2 else "woof")} for i in range(8)]


def label(**extra: Any) -> list[dict[str, Any]]:
    task = {
        "name": "pets",
        "description": "Which animal made the sound?",
        "labels": ["cat", "dog"],
        "confidence": "logprob",
        **extra,
    }
    return llmlabel.label_records(task, RECORDS, backend=LeaningBackend(), cache=False)


def test_the_lean_is_divided_out(monkeypatch: pytest.MonkeyPatch) -> None:
    assert {row["label"] for row in label()} == {"cat"}  # the toy model's lean
    monkeypatch.setattr(distribution, "POOL_RECORDS", 4)
    rows = label(bias_correction="pool")
    assert [row["label"] for row in rows] == ["dog", "cat"] * 4  # the known answer
    # The prior: the mean of the first four records' distributions, cat 0.75.
    expected = {"cat": 0.9 / 0.625, "dog": 0.1 / 0.375}  # debias mixes the prior with uniform
    total = sum(expected.values())
    assert rows[1]["probs"] == pytest.approx({k: v / total for k, v in expected.items()}, abs=1e-5)


def test_the_prior_comes_from_the_first_records_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distribution, "POOL_RECORDS", 1)  # one dog record: its lean only
    rows = label(bias_correction="pool")
    prior = {"cat": 0.6, "dog": 0.4}
    assert rows[0]["probs"] == pytest.approx(labelprobs.debias(prior, prior), abs=1e-5)
    assert rows[1]["probs"] == pytest.approx(
        labelprobs.debias({"cat": 0.9, "dog": 0.1}, prior), abs=1e-5
    )
    assert json.dumps(rows[0]["provenance"]["bias_correction"]) == '"pool"'


def test_pool_needs_label_probabilities() -> None:
    with pytest.raises(ConfigError, match="bias_correction"):
        label(bias_correction="pool", confidence="vote")


def test_a_run_in_batches_divides_every_batch_by_the_inputs_first_records(
    tmp_path: Path,
) -> None:
    """On Ray each batch is a run of its own: the driver reads the input's first records
    (``committee.first_records``) and every batch's runner divides by their prior, not its
    own."""
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    spec = {"name": "pets", "labels": ["cat", "dog"], "bias_correction": "pool"}
    task = load(spec)
    first = first_records(task, read_records(data))
    assert [r.id for r in first] == [r["id"] for r in RECORDS]  # fewer than POOL_RECORDS
    assert first_records(load({**spec, "bias_correction": "none"}), read_records(data)) == []
    meows = [r for r in first if "meow" in r.data["text"]]

    async def batch(given: list[InputRecord] | None) -> dict[str, float] | None:
        runner = make_runner(task, LeaningBackend(), NullCache(), ListSink(), first=given)
        await runner.run(meows[:2])  # a batch of cat records only
        return runner.stats.label_prior

    whole = asyncio.run(batch(first))
    assert whole == pytest.approx({"cat": 0.75, "dog": 0.25})  # the whole input's first records
    assert asyncio.run(batch(None)) == pytest.approx({"cat": 0.9, "dog": 0.1})  # its own


def test_labeler_calls_share_the_first_calls_prior() -> None:
    """Each ``Labeler`` call is a run of its own; the prior is the first call's first records'
    for every call, so a later call of cat records only is not divided by its own lean."""
    task = {"name": "pets", "labels": ["cat", "dog"], "bias_correction": "pool"}
    with llmlabel.Labeler(task, backend=LeaningBackend(), cache=False, progress=False) as labeler:
        first = labeler.label(RECORDS)
        again = labeler.label([r for r in RECORDS if "meow" in r["text"]][:2])
    assert [row["label"] for row in first] == ["dog", "cat"] * 4
    assert again[0]["probs"] == pytest.approx(first[1]["probs"], abs=1e-5)
