"""``label_lists: walk``: a multi-label answer chosen label by label by the exact label
distribution at each position, instead of the greedy token path that favours labels sharing a
first token. The model here is a toy language model over answer text with known next-token
probabilities, answering as a server does (greedy samples, one-token probes of a prefill)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.core.labelprobs import list_end
from llmlabel.core.request import Completion, LabelRequest, Sample, TokenLogprob, Usage

HEAD = '{"labels": ["'
LABELS = ["disappointment", "disapproval", "disgust", "neutral", "joy"]
DIS = {"appointment": 0.34, "approval": 0.33, "gust": 0.33}
FIRST = {"dis": 0.5, "neutral": 0.35, "joy": 0.15}
"""At the first position ``dis`` carries the most mass, but every ``dis…`` label has less
than ``neutral``: greedy decoding answers ``disappointment``, the exact walk ``neutral``."""

Next = Callable[[str], Mapping[str, float]]


def toy(ends: list[Mapping[str, float]], second: Mapping[str, float] | None = None) -> Next:
    """Next-token probabilities after an answer's text: ``ends[k]`` after the (k+1)-th label
    (close the list or go on), ``second`` at the second position."""

    def next_tokens(text: str) -> Mapping[str, float]:
        if not text.startswith(HEAD):
            return {HEAD: 1.0}
        items = text[len(HEAD) :].split('", "')
        current, done = items[-1], items[:-1]
        if current.endswith('"'):  # a lone closing quote was written
            return {', "': 0.9, "]}": 0.1}
        if current == "":
            return second if done and second else FIRST
        if current == "dis":
            return DIS
        if current in LABELS:
            return ends[len(done)]
        return {}

    return next_tokens


class ToyBackend:
    """Greedy answers and prefill probes from a toy model ``next_tokens``, with each token's
    alternatives, as llama.cpp gives them; counts the probes."""

    name = "toy"
    max_n = 4
    model_id = "toy"

    def __init__(self, next_tokens: Next):
        self.next_tokens = next_tokens
        self.probes: list[str] = []

    def _token(self, text: str) -> TokenLogprob:
        options = self.next_tokens(text)
        best = max(options, key=lambda t: options[t])
        top = tuple((t, math.log(p)) for t, p in options.items())
        return TokenLogprob(text=best, logprob=math.log(options[best]), top=top)

    async def complete(self, request: LabelRequest) -> Completion:
        if request.prefill:
            self.probes.append(request.prefill)
            token = self._token(request.prefill)
            sample = Sample(text=token.text, tokens=(token,))
        else:
            text, tokens = "", []
            while not text.endswith("]}"):
                tokens.append(self._token(text))
                text += tokens[-1].text
            sample = Sample(text=text, tokens=tuple(tokens))
        return Completion(samples=(sample,) * request.n, usage=Usage(prompt_tokens=10))

    async def aclose(self) -> None:
        pass


def task(**extra: Any) -> dict[str, Any]:
    return {
        "name": "emotions",
        "kind": "multi_label",
        "description": "Label the emotions in a comment.",
        "labels": LABELS,
        "label_lists": "walk",
        **extra,
    }


def label(next_tokens: Next, **extra: Any) -> dict[str, Any]:
    backend = ToyBackend(next_tokens)
    records = [{"id": "r1", "text": "ok"}]
    [row] = llmlabel.label_records(task(**extra), records, backend=backend, cache=False)
    row["probes"] = backend.probes
    return row


def test_greedy_decoding_follows_the_shared_first_token() -> None:
    row = label(toy([{'"]}': 0.8, '", "': 0.2}]), label_lists="greedy")
    assert row["label"] == ["disappointment"]
    assert row["probes"] == []


def test_the_walk_chooses_the_most_probable_label_and_stops_where_the_list_closes() -> None:
    row = label(toy([{'"]}': 0.8, '", "': 0.2}]))
    assert row["label"] == ["neutral"]
    assert row["probs"]["neutral"] == pytest.approx(0.35)
    # the dis… branch point came free with the answer; only the list's end was asked
    assert row["probes"] == [HEAD + "neutral"]
    assert row["provenance"]["label_lists"] == "walk"


def test_the_walk_goes_on_past_a_lone_quote_and_never_repeats_a_label() -> None:
    ends = [{'"': 0.7, '"]}': 0.3}, {'"]}': 0.9, '", "': 0.1}]
    row = label(toy(ends, second={"neutral": 0.3, "joy": 0.5, "dis": 0.2}))
    assert row["label"] == ["neutral", "joy"]  # in the task's label order
    # second position: neutral is taken, so joy 0.5 against dis… 0.2
    assert row["probs"]["joy"] == pytest.approx(0.5 / 0.7)
    assert row["probes"][:3] == [HEAD + "neutral", HEAD + 'neutral"', HEAD + 'neutral", "']


def test_several_samples_keep_their_vote() -> None:
    row = label(toy([{'"]}': 0.8, '", "': 0.2}]), samples=3)
    assert row["label"] == ["disappointment"] and row["probes"] == []
    assert "label_lists" not in row["provenance"]


def test_list_end_sorts_the_tokens_after_a_label() -> None:
    logs = {t: math.log(p) for t, p in {'"]}': 0.5, '", "': 0.2, '"': 0.2, "x": 0.1}.items()}
    assert list_end(logs, quoted=False) == pytest.approx((0.2, 0.5, 0.2))
    after_quote = {t: math.log(p) for t, p in {" ,": 0.3, "]}": 0.6, " ": 0.1}.items()}
    assert list_end(after_quote, quoted=True) == pytest.approx((0.3, 0.6, 0.1))


def test_the_plan_counts_the_walks_probes_among_the_requests_at_most(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "r1", "text": "ok"}\n', encoding="utf-8")
    ends = [{'"': 0.7, '"]}': 0.3}, {'"]}': 0.9, '", "': 0.1}]
    backend = ToyBackend(toy(ends, second={"neutral": 0.3, "joy": 0.5, "dis": 0.2}))
    plan = llmlabel.plan(task(), source)
    result = llmlabel.label(task(), source, tmp_path / "out.jsonl", backend=backend, cache=False)
    assert plan.requests == 1 < result.stats.requests <= plan.requests_max


def test_greedy_is_the_default() -> None:
    from llmlabel.task import load

    bare = {k: v for k, v in task().items() if k != "label_lists"}
    assert not load(bare).walks_lists and load(task()).walks_lists
