"""Multi-label and NER committees: label-by-label (span-by-span) votes on hand-computed cases."""

from __future__ import annotations

import math
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmlabel.core.committee import Ballot
from llmlabel.core.committee_sets import (
    labels_answer,
    merge_labels,
    merge_spans,
    span_rule,
    spans_answer,
)
from llmlabel.core.review import Candidate, uncertainty
from llmlabel.core.spans import Span, SpanAnswer, span_vote
from llmlabel.core.vote import per_label_majority

LABELS = ["a", "b"]
NONE: frozenset[str] = frozenset()
A = frozenset({"a"})
AB = frozenset({"a", "b"})


def kl2(p: float, q: float) -> float:
    """Binary KL((p, 1-p) ‖ (q, 1-q)) in nats."""
    return sum(x * math.log(x / y) for x, y in ((p, q), (1 - p, 1 - q)) if x > 0)


def h2(p: float) -> float:
    return -sum(x * math.log(x) for x in (p, 1 - p) if x > 0)


def test_weights_can_outvote_a_majority_member() -> None:
    # a: shares .75 (weight 1) and .25 (weight 3) -> consensus .375: dropped; b: nobody
    merged = merge_labels(
        [Ballot("m1", (A, A, A, NONE)), Ballot("m2", (A, NONE, NONE, NONE), weight=3.0)], LABELS
    )
    vote, found = merged.vote, merged.found
    assert vote.label == [] and not vote.tie
    assert vote.label_confidence == {"a": 0.625, "b": 1.0} and vote.confidence == 0.625
    assert vote.counts == {"a": 4} and vote.total == 8
    assert merged.votes == {"m1": {"a": 3}, "m2": {"a": 1}}
    assert found.consensus == pytest.approx({"a": 0.375, "b": 0.0})
    # entropy, KL and disagreement are means over the two labels; b adds zeros
    assert found.entropy == pytest.approx(h2(0.375) / 2)
    assert found.kl == pytest.approx({"m1": kl2(0.75, 0.375) / 2, "m2": kl2(0.25, 0.375) / 2})
    assert kl2(0.75, 0.375) == pytest.approx(0.75 * math.log(2) + 0.25 * math.log(0.4))
    expected = (kl2(0.75, 0.375) + 3 * kl2(0.25, 0.375)) / 4 / 2
    assert found.disagreement == pytest.approx(expected)
    assert found.disagreement == pytest.approx(0.0496142, abs=1e-6)


def test_the_same_shares_with_equal_weights_keep_nothing_and_tie() -> None:
    merged = merge_labels(
        [Ballot("m1", (A, A, A, NONE)), Ballot("m2", (A, NONE, NONE, NONE))], LABELS
    )
    assert merged.vote.label == [] and merged.vote.tie  # consensus .5 on a
    assert merged.vote.confidence == pytest.approx(0.5)


def test_invalid_samples_take_no_side_and_lower_confidence() -> None:
    # m1: {a}, {a}, invalid, invalid -> yes .5, no 0, invalid .5; m2: {} -> no 1
    merged = merge_labels([Ballot("m1", (A, A, None, None)), Ballot("m2", (NONE,))], LABELS)
    # a: c = {yes: .25, no: .5, invalid: .25}; b: c = {no: .75, invalid: .25}
    assert merged.vote.label == [] and not merged.vote.tie
    assert merged.found.consensus["a"] == pytest.approx(0.25)
    assert merged.vote.label_confidence == {"a": 0.5, "b": 0.75}
    assert merged.vote.total == 5


def test_a_keyword_rule_votes_only_on_its_label() -> None:
    model = Ballot("model", (AB, AB, AB))
    keyword = Ballot("kw", (frozenset({"b"}),), partial=True)
    merged = merge_labels([model, keyword], LABELS)
    assert merged.vote.label == ["a", "b"] and merged.vote.confidence == 1.0
    assert merged.found.kl == {"model": 0.0, "kw": 0.0} and merged.found.disagreement == 0.0
    # a Python rule's answer is whole: it says "not a" too, and one against one is a tie
    python = Ballot("py", (frozenset({"b"}),))
    merged = merge_labels([model, python], LABELS)
    assert merged.vote.label == ["b"] and merged.vote.tie
    assert merged.found.kl["py"] == pytest.approx(math.log(2) / 2)  # ln 2 on a, 0 on b


def test_no_valid_answer_abstains_with_the_reason() -> None:
    merged = merge_labels([Ballot("m", (None, None))], LABELS, ["m: sample 0: bad JSON"])
    assert merged.vote.label is None and merged.vote.confidence == 0.0
    assert merged.vote.abstain_reason == (
        "no valid vote from 1 committee member (first: m: sample 0: bad JSON)"
    )


def test_a_rule_can_answer_when_the_model_cannot() -> None:
    merged = merge_labels([Ballot("m", (None,)), Ballot("kw", (A,), partial=True)], LABELS)
    assert merged.vote.label == ["a"] and merged.vote.label_confidence == {"a": 0.5, "b": 0.0}


label_sets = st.one_of(st.none(), st.frozensets(st.sampled_from(["a", "b", "c"])))


@given(st.lists(label_sets, min_size=1, max_size=10))
def test_one_member_is_the_single_model_vote(values: list[frozenset[str] | None]) -> None:
    merged = merge_labels([Ballot("m", tuple(values))], ["a", "b", "c"])
    alone = per_label_majority(values, ["a", "b", "c"])
    vote = merged.vote
    assert (vote.label, vote.tie, vote.counts) == (alone.label, alone.tie, alone.counts)
    assert vote.confidence == pytest.approx(alone.confidence)
    assert vote.label_confidence == alone.label_confidence
    assert merged.found.disagreement == pytest.approx(0.0, abs=1e-12)


@given(
    st.lists(
        st.tuples(st.lists(label_sets, min_size=1, max_size=5), st.floats(0.1, 5.0)),
        min_size=1,
        max_size=4,
    ),
    st.randoms(),
)
def test_merge_properties(
    members: list[tuple[list[frozenset[str] | None], float]], rnd: random.Random
) -> None:
    ballots = [Ballot(f"m{i}", tuple(v), w) for i, (v, w) in enumerate(members)]
    merged = merge_labels(ballots, ["a", "b", "c"])
    shuffled = [
        Ballot(b.name, tuple(rnd.sample(b.values, len(b.values))), b.weight) for b in ballots
    ]
    rnd.shuffle(shuffled)
    again = merge_labels(shuffled, ["a", "b", "c"])
    assert (again.vote.label, again.vote.counts, again.vote.tie) == (
        merged.vote.label,
        merged.vote.counts,
        merged.vote.tie,
    )
    assert again.vote.confidence == pytest.approx(merged.vote.confidence)
    assert again.found.disagreement == pytest.approx(merged.found.disagreement)
    assert 0.0 <= merged.vote.confidence <= 1.0
    assert all(kl >= 0 for kl in merged.found.kl.values())
    assert 0.0 <= merged.found.disagreement <= merged.found.entropy + 1e-9
    if merged.vote.label is not None:
        assert set(merged.vote.label) <= {"a", "b", "c"}
    answers = {v for b in ballots for v in b.values}
    if len(answers) == 1 and None not in answers:  # unanimous
        assert merged.vote.confidence == pytest.approx(1.0)
        assert merged.found.disagreement == pytest.approx(0.0, abs=1e-12)


def test_labels_answer_takes_a_label_or_a_collection_of_labels() -> None:
    assert labels_answer("a", LABELS, {}) == A
    assert labels_answer(["a", "b"], LABELS, {}) == AB
    assert labels_answer({"b"}, LABELS, {}) == frozenset({"b"})
    assert labels_answer([], LABELS, {}) == NONE
    with pytest.raises(ValueError, match="'x' is not a label of the task"):
        labels_answer(["a", "x"], LABELS, {})
    with pytest.raises(ValueError, match="not a label or a list of labels"):
        labels_answer(3, LABELS, {})


# NER: spans are the items.

TEXT = "Ada Lovelace met Babbage in London."
ADA = Span(0, 12, "PER", "Ada Lovelace")
LOVELACE = Span(4, 12, "PER", "Lovelace")
BABBAGE = Span(17, 24, "PER", "Babbage")
LONDON = Span(28, 34, "LOC", "London")
TOKENS = ((0, 3), (4, 12), (13, 16), (17, 24), (25, 27), (28, 34), (34, 35))


def ans(*spans: Span, dropped: tuple[str, ...] = ()) -> SpanAnswer:
    return SpanAnswer(frozenset(spans), dropped, TOKENS)


def test_span_committee_by_hand() -> None:
    # m1 (3 samples): ADA 3, LONDON 2; m2 (2 samples, weight 2): LOVELACE 2, LONDON 1
    m1 = Ballot("m1", (ans(ADA, LONDON), ans(ADA, LONDON), ans(ADA, dropped=("'X' ...",))))
    m2 = Ballot("m2", (ans(LOVELACE, LONDON), ans(LOVELACE)), weight=2.0)
    merged = merge_spans([m1, m2], ["PER", "LOC"])
    vote = merged.vote
    # ADA: (1 + 0)/3 = 1/3 no keep; LOVELACE: (0 + 2)/3 keep; LONDON: (2/3 + 2 * 1/2)/3 = 5/9
    assert [(e["text"], e["confidence"]) for e in vote.label] == [
        ("Lovelace", round(2 / 3, 6)),
        ("London", round(5 / 9, 6)),
    ]
    assert vote.label_confidence == {
        ADA.key: round(2 / 3, 6),
        LOVELACE.key: round(2 / 3, 6),
        LONDON.key: round(5 / 9, 6),
    }
    assert vote.confidence == pytest.approx(5 / 9) and not vote.tie
    assert vote.counts == {ADA.key: 3, LOVELACE.key: 2, LONDON.key: 3}
    assert merged.votes == {
        "m1": {ADA.key: 3, LONDON.key: 2},
        "m2": {LOVELACE.key: 2, LONDON.key: 1},
    }
    assert vote.extra == {
        "tags": ["O", "B-PER", "O", "O", "O", "B-LOC", "O"],
        "dropped_spans": ["m1: sample 2: 'X' ..."],
    }
    found = merged.found
    items = [(1.0, 0.0, 1 / 3), (0.0, 1.0, 2 / 3), (2 / 3, 0.5, 5 / 9)]  # (m1, m2, consensus)
    assert found.entropy == pytest.approx(sum(h2(c) for _, _, c in items) / 3)
    assert found.kl == pytest.approx(
        {
            "m1": sum(kl2(p, c) for p, _, c in items) / 3,
            "m2": sum(kl2(p, c) for _, p, c in items) / 3,
        }
    )
    assert found.disagreement == pytest.approx((found.kl["m1"] + 2 * found.kl["m2"]) / 3)


def test_overlapping_majority_spans_keep_the_larger_consensus() -> None:
    m1 = Ballot("m1", (ans(ADA), ans(ADA), ans(ADA)))
    m2 = Ballot("m2", (ans(LOVELACE), ans(LOVELACE), ans(LOVELACE)), weight=2.0)
    rule = Ballot("kw", (ans(ADA),), partial=True)
    # ADA: m1 and kw yes, m2 no -> 1/2 (tie); LOVELACE: m2 yes (2/3) -> kept
    vote = merge_spans([m1, m2, rule], ["PER"]).vote
    assert [e["text"] for e in vote.label] == ["Lovelace"] and vote.tie
    m2 = Ballot("m2", (ans(LOVELACE), ans(LOVELACE), ans(LOVELACE)))
    vote = merge_spans([m1, m2, rule], ["PER"]).vote
    # ADA 2/3 yes, LOVELACE 1/2 (kw has no say on it) -> ADA only, a tie on LOVELACE
    assert [e["text"] for e in vote.label] == ["Ada Lovelace"] and vote.tie


def test_no_span_anywhere_is_a_unanimous_no_entities() -> None:
    merged = merge_spans([Ballot("m1", (ans(), None)), Ballot("m2", (ans(),))], ["PER"])
    assert merged.vote.label == [] and merged.vote.confidence == pytest.approx(0.75)
    assert merged.found.disagreement == 0.0 and merged.found.kl == {"m1": 0.0, "m2": 0.0}


span_answers = st.one_of(
    st.none(),
    st.frozensets(st.sampled_from([ADA, LOVELACE, BABBAGE, LONDON])).map(lambda s: ans(*s)),
)


@given(st.lists(span_answers, min_size=1, max_size=8))
def test_one_span_member_is_the_single_model_vote(values: list[SpanAnswer | None]) -> None:
    vote = merge_spans([Ballot("m", tuple(values))], ["PER", "LOC"]).vote
    alone = span_vote(values, ["PER", "LOC"])
    assert (vote.label, vote.tie, vote.counts) == (alone.label, alone.tie, alone.counts)
    assert vote.confidence == pytest.approx(alone.confidence)
    assert vote.label_confidence == alone.label_confidence
    if alone.extra is not None and vote.extra is not None:
        assert vote.extra.get("tags") == alone.extra.get("tags")


def test_span_rules_and_answers() -> None:
    rule = span_rule("PER", re.compile(r"\bBabbage\b|\bAda\b"), ["text"])
    assert rule({"text": TEXT}) == [
        {"start": 0, "end": 3, "label": "PER"},
        {"start": 17, "end": 24, "label": "PER"},
    ]
    assert rule({"text": "nobody here"}) is None
    record = {"text": TEXT}
    found = spans_answer(
        [{"text": "Babbage", "label": "PER"}, {"start": 28, "end": 34, "label": "LOC"}],
        ["PER", "LOC"],
        record,
    )
    assert found.spans == {BABBAGE, LONDON} and found.tokens is None
    assert spans_answer([], ["PER"], record).spans == frozenset()
    with pytest.raises(ValueError, match="'Turing' \\(PER\\) is not in the text"):
        spans_answer([{"text": "Turing", "label": "PER"}], ["PER"], record)
    with pytest.raises(ValueError, match="not an entity with a label of the task"):
        spans_answer([{"text": "London", "label": "GPE"}], ["PER", "LOC"], record)
    with pytest.raises(ValueError, match="not inside the text"):
        spans_answer([{"start": 30, "end": 99, "label": "LOC"}], ["LOC"], record)
    with pytest.raises(ValueError, match="not a list of entities"):
        spans_answer("London", ["LOC"], record)


def test_review_ranks_a_multi_label_committee_row_by_its_recorded_disagreement() -> None:
    candidate = Candidate("r", ("a",), 0.6, {"a": 3}, 5, multi_label=True, disagreement=0.1234)
    assert uncertainty(candidate, "committee") == 0.1234
    assert uncertainty(candidate, "entropy") != 0.1234
