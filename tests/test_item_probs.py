"""Probabilities for the items of list answers (multi-label labels, NER spans, triples): from
the tokens that spell each item, weighed into the vote as soft counts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import llmlabel
from llmlabel.core.labelprobs import empty_probability, item_probs
from llmlabel.core.request import TokenLogprob
from llmlabel.core.spans import Span, SpanAnswer, span_vote
from llmlabel.core.vote import per_label_majority

ROOT = Path(__file__).resolve().parent.parent


def tokens(*pieces: tuple[str, float]) -> list[TokenLogprob]:
    return [TokenLogprob(text=text, logprob=math.log(p)) for text, p in pieces]


def test_an_entity_is_the_product_of_its_value_tokens_and_closing_quotes() -> None:
    answer = tokens(
        ('{"entities": [{"text": "', 0.9),  # structure: left out
        ("Par", 0.5),
        ("is", 0.8),
        ('", "label": "', 0.9),  # closes the mention: counts (where the span ends)
        ("LOC", 0.7),
        ('"}]}', 0.6),  # closes the label: counts
    )
    span = Span(0, 5, "LOC", "Paris")
    found = item_probs(answer, "entities", [(span, ("Paris", "LOC"))])
    assert found[span] == pytest.approx(0.5 * 0.8 * 0.9 * 0.7 * 0.6)


def test_a_label_is_found_whole_not_inside_a_longer_one() -> None:
    answer = tokens(
        ('{"labels": ["', 1.0), ("h", 0.5), ("unger", 0.5), ('", "', 0.9), ("anger", 0.3),
        ('"]}', 0.8),
    )  # fmt: skip
    found = item_probs(answer, "labels", [("anger", ("anger",)), ("hunger", ("hunger",))])
    assert found == pytest.approx({"anger": 0.3 * 0.8, "hunger": 0.5 * 0.5 * 0.9})


def test_escaped_values_and_items_not_in_the_tokens() -> None:
    answer = tokens(('{"entities": [{"text": "', 1.0), ("Z\\u00fcrich", 0.4), ('"', 0.5))
    found = item_probs(answer, "entities", [("z", ("Zürich",)), ("x", ("Geneva",))])
    assert found == pytest.approx({"z": 0.2})  # Geneva: not in this sample's tokens


def test_an_empty_answer_gets_the_probability_of_closing_its_list() -> None:
    assert empty_probability(
        tokens(('{"entities": [', 1.0), ("]", 0.6), ("}", 1.0)), "entities"
    ) == pytest.approx(0.6)
    assert empty_probability(tokens(('{"entities": ["', 1.0), ("x", 0.5)), "entities") is None


def test_soft_votes_keep_the_majority_decisions_and_weigh_the_confidences() -> None:
    values = [frozenset({"a", "b"}), frozenset({"a"}), None]
    soft = [{"a": 0.9, "b": 0.4}, {"a": 0.5}, None]
    hard = per_label_majority(values, ["a", "b", "c"])
    weighed = per_label_majority(values, ["a", "b", "c"], soft=soft)
    assert weighed.label == hard.label == ["a"]
    assert weighed.counts == hard.counts and weighed.tie == hard.tie
    assert weighed.label_confidence == pytest.approx({"a": 1.4 / 3, "b": 1.6 / 3, "c": 2 / 3})
    assert weighed.confidence == pytest.approx(1.4 / 3)
    assert weighed.extra == {"probs": pytest.approx({"a": 0.7, "b": 0.2, "c": 0.0})}
    assert hard.label_confidence == pytest.approx({"a": 2 / 3, "b": 1 / 3, "c": 2 / 3})


def test_an_empty_ner_answer_is_as_confident_as_its_closing_bracket() -> None:
    nothing = SpanAnswer(spans=frozenset())
    assert span_vote([nothing], ["PER"]).confidence == 1.0
    assert span_vote([nothing], ["PER"], soft=[{None: 0.3}]).confidence == pytest.approx(0.3)
    paris = Span(0, 5, "LOC", "Paris")
    vote = span_vote([SpanAnswer(spans=frozenset({paris}))], ["LOC"], soft=[{paris: 0.8}])
    assert vote.label[0]["confidence"] == pytest.approx(0.8) and vote.confidence == 0.8


def test_ner_and_multi_label_rows_on_smollm2_carry_item_probabilities(
    tmp_path: Path, smollm2_path: Path
) -> None:
    small = {"backend.model": str(smollm2_path), "samples": 1, "examples.k": 0}
    ner = llmlabel.label(
        ROOT / "examples/ner/task.yaml", ROOT / "examples/ner/news.jsonl", tmp_path / "ner.jsonl",
        limit=2, overrides=small, cache=False,
    )  # fmt: skip
    tickets = llmlabel.label(
        ROOT / "examples/tickets/task.yaml", ROOT / "examples/tickets/tickets.jsonl",
        tmp_path / "tickets.jsonl", limit=2, overrides=small, cache=False,
    )  # fmt: skip
    seen = []
    for result in (ner, tickets):
        for row in map(json.loads, result.output.read_text().splitlines()):
            if row["status"] != "labeled":
                continue
            assert row["confidence_method"] == "logprob" and "confidence_note" not in row
            assert 0.0 < row["confidence"] <= 1.0
            seen.append(row["confidence"])
            if "probs" in row:  # multi-label: every label's probability of being in the set
                assert set(row["probs"]) >= set(row["label"])
                assert all(0.0 <= p <= 1.0 for p in row["probs"].values())
            else:  # NER: the row's confidence is its weakest entity's
                found = [e["confidence"] for e in row["label"]]
                assert row["confidence"] == pytest.approx(min(found, default=row["confidence"]))
    assert seen and any(c < 1.0 for c in seen)  # one sample, yet not a constant 1.000
