"""Relation triples: location in the text, per-triple vote and triple metrics, by hand."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmlabel.core.metrics import Outcome
from llmlabel.core.scoring import Unscorable
from llmlabel.core.triples import (
    SCORING,
    Triple,
    TripleAnswer,
    answer_value,
    gold_triples,
    locate,
    per_relation,
    predicted_triples,
    triple_f1,
    triple_macro_f1_without_other,
    triple_precision,
    triple_recall,
    triple_vote,
    triples_model,
)

TEXT = "Obama was born in Hawaii. Obama led the USA, not the US Navy."


def test_heads_and_tails_are_located_each_at_its_first_occurrence() -> None:
    found, dropped = locate(
        [
            ("Obama", "born_in", "Hawaii"),
            ("Obama", "works_for", "US"),  # whole word "US" (in "US Navy"), not inside "USA"
            ("Obama", "born_in", "Kenya"),
        ],
        TEXT,
    )
    assert found == {
        Triple(0, 5, "born_in", 18, 24, "Obama", "Hawaii"),
        Triple(0, 5, "works_for", 53, 55, "Obama", "US"),
    }
    assert TEXT[53:55] == "US"
    assert dropped == ("('Obama', born_in, 'Kenya'): 'Kenya' (tail) is not in the text",)


def test_answer_value_reads_the_answer_model() -> None:
    model = triples_model(["born_in", "works_for"])
    answer = model.model_validate(
        {"triples": [{"head": " Obama ", "relation": "born_in", "tail": "Hawaii"}]}
    )
    value = answer_value(answer, {"text": TEXT})
    assert value.triples == {Triple(0, 5, "born_in", 18, 24, "Obama", "Hawaii")}
    with pytest.raises(ValueError):
        model.model_validate({"triples": [{"head": "a", "relation": "nope", "tail": "b"}]})


A = Triple(0, 5, "born_in", 18, 24, "Obama", "Hawaii")
B = Triple(0, 5, "works_for", 40, 43, "Obama", "USA")
C = Triple(26, 31, "born_in", 18, 24, "Obama", "Hawaii")


def answer(*triples: Triple) -> TripleAnswer:
    return TripleAnswer(frozenset(triples))


def test_a_triple_is_kept_by_more_than_half_of_the_valid_samples() -> None:
    vote = triple_vote([answer(A, B), answer(A, B, C), answer(A), None], ["born_in", "works_for"])
    assert [(t["relation"], t["tail"]["text"], t["confidence"]) for t in vote.label] == [
        ("born_in", "Hawaii", 0.75),
        ("works_for", "USA", 0.5),
    ]
    assert vote.counts == {A.key: 3, B.key: 2, C.key: 1}
    assert vote.label_confidence == {A.key: 0.75, B.key: 0.5, C.key: 0.5}  # C: 2 of 4 say no
    assert vote.confidence == 0.5 and vote.tie is False


def test_exactly_half_is_a_tie_not_kept() -> None:
    vote = triple_vote([answer(A), answer()], [])
    assert vote.label == [] and vote.tie is True and vote.confidence == 0.5


def test_agreeing_on_no_triples_is_certain_and_no_valid_sample_abstains() -> None:
    assert triple_vote([answer(), answer()], []).confidence == 1.0
    vote = triple_vote([None, None], [], ["sample 0: bad JSON"])
    assert vote.label is None and "no valid answer in 2 samples" in (vote.abstain_reason or "")


def test_dropped_triples_are_listed_with_their_sample() -> None:
    vote = triple_vote([TripleAnswer(frozenset(), ("x",)), answer()], [])
    assert vote.extra == {"dropped_triples": ["sample 0: x"]}


@given(st.lists(st.sets(st.sampled_from([A, B, C])), min_size=1, max_size=6), st.randoms())
def test_vote_does_not_depend_on_sample_order(sets: list[set[Triple]], rnd: random.Random) -> None:
    values = [answer(*s) for s in sets]
    shuffled = values[:]
    rnd.shuffle(shuffled)
    first, second = triple_vote(values, []), triple_vote(shuffled, [])
    assert (first.label, first.confidence, first.counts) == (
        second.label,
        second.confidence,
        second.counts,
    )
    assert 0.0 <= first.confidence <= 1.0


def t(head: str, relation: str, tail: str) -> dict[str, str]:
    return {"head": head, "relation": relation, "tail": tail}


def test_triple_metrics_by_hand() -> None:
    gold1 = gold_triples({"triples": [t("a", "r1", "b"), t("c", "r2", "d")]})
    predicted1 = predicted_triples(
        [
            {"head": {"text": "a", "start": 0, "end": 1}, "relation": "r1", "tail": {"text": "b"}},
            t("c", "r1", "d"),
            t("x", "Other", "y"),
        ]
    )
    outcomes = [
        Outcome("1", gold1, predicted1, 1.0),
        Outcome("2", gold_triples({"triples": [t("e", "Other", "f")]}), None, 0.0),
    ]
    # hits 1 of 3 predicted and of 3 gold
    assert triple_precision(outcomes) == pytest.approx(1 / 3)
    assert triple_recall(outcomes) == pytest.approx(1 / 3)
    assert triple_f1(outcomes) == pytest.approx(1 / 3)
    # r1: P .5 R 1 F 2/3; r2: F 0; Other (F 0) left out
    assert triple_macro_f1_without_other(outcomes) == pytest.approx((2 / 3 + 0) / 2)
    assert {s.label: round(s.f1, 4) for s in per_relation(outcomes)} == {
        "Other": 0.0,
        "r1": 0.6667,
        "r2": 0.0,
    }
    assert SCORING.correct(gold1, gold1) and not SCORING.correct(gold1, predicted1)


def test_entity_text_spaces_are_normalised_and_malformed_rows_are_unscorable() -> None:
    assert gold_triples({"triples": [t(" New  York ", "r", "b")]}) == {("New York", "r", "b")}
    with pytest.raises(Unscorable, match="has no triples list"):
        gold_triples({"label": "x"})
    with pytest.raises(Unscorable, match="has no list of triples"):
        predicted_triples([{"head": "a"}])
