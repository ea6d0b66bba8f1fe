"""Review selection and agreement math on hand-computed cases."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from llmlabel.core.committee import Member
from llmlabel.core.review import (
    Candidate,
    agreement,
    choose,
    cohen_kappa,
    consensus_kl,
    entropy,
    jaccard,
    shingles,
    uncertainty,
)


def cls(id: str, votes: dict[str, int], invalid: int = 0, **kw: object) -> Candidate:
    valid = sum(votes.values())
    label = max(votes, key=votes.__getitem__) if votes else None
    confidence = max(votes.values(), default=0) / (valid + invalid) if valid + invalid else 0.0
    return Candidate(id, label, confidence, votes, valid, invalid, **kw)  # type: ignore[arg-type]


def test_classification_scores_by_hand() -> None:
    c = cls("r", {"a": 3, "b": 2})
    assert uncertainty(c, "least_confidence") == pytest.approx(0.4)
    assert uncertainty(c, "margin") == pytest.approx(1 - (0.6 - 0.4))
    assert uncertainty(c, "entropy") == pytest.approx(0.6730117, abs=1e-7)
    # samples as committee members: mean KL from consensus is the vote entropy
    assert uncertainty(c, "committee") == pytest.approx(0.6730117, abs=1e-7)


def test_invalid_samples_are_an_outcome_of_their_own() -> None:
    c = cls("r", {"a": 3, "b": 1}, invalid=1)  # shares .6 / .2 / .2 (invalid)
    assert uncertainty(c, "margin") == pytest.approx(0.6)
    assert uncertainty(c, "entropy") == pytest.approx(0.6 * -math.log(0.6) - 0.4 * math.log(0.2))


def test_committee_uses_per_member_votes() -> None:
    # members {a: 1} and {a: .5, b: .5}; consensus {a: .75, b: .25}
    c = cls(
        "r", {"a": 3, "b": 1}, committee=[Member("m1", {"a": 2}), Member("m2", {"a": 1, "b": 1})]
    )
    expected = (math.log(1 / 0.75) + 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(2)) / 2
    assert uncertainty(c, "committee") == pytest.approx(expected)
    assert expected == pytest.approx(0.2157616, abs=1e-7)


def test_unanimous_is_certain_and_no_vote_is_most_uncertain() -> None:
    sure = cls("a", {"x": 5})
    none = Candidate("b", None, 0.0, {}, 0, 5)
    for strategy in ("least_confidence", "margin", "entropy", "committee"):
        assert uncertainty(sure, strategy) == pytest.approx(0.0)
        assert uncertainty(none, strategy) >= uncertainty(cls("c", {"x": 1, "y": 1}), strategy)


def test_multi_label_scores_by_hand() -> None:
    # 4 valid samples; x named by 3, y by 1, z by none
    c = Candidate("t", ("x",), 0.75, {"x": 3, "y": 1, "z": 0}, 4, 0, multi_label=True)
    assert uncertainty(c, "margin") == pytest.approx(0.5)
    assert uncertainty(c, "entropy") == pytest.approx(2 * entropy([0.75, 0.25]))
    assert entropy([0.75, 0.25]) == pytest.approx(0.5623351, abs=1e-7)


def test_consensus_kl_of_identical_members_is_zero() -> None:
    assert consensus_kl([{"a": 0.5, "b": 0.5}] * 3) == 0.0


def test_choose_ranks_breaks_ties_by_file_order_and_keeps_the_budget() -> None:
    rows = [cls("sure", {"a": 5}), cls("tie1", {"a": 3, "b": 2}), cls("tie2", {"a": 2, "b": 3})]
    choice = choose(rows, "entropy", 2)
    assert [c.id for c in choice.chosen] == ["tie1", "tie2"]
    assert choice.candidates == 3


def test_near_duplicates_are_skipped() -> None:
    rows = [cls("a", {"x": 1, "y": 1}), cls("b", {"x": 1, "y": 1}), cls("c", {"x": 2, "y": 1})]
    texts = {"a": "the cat sat on the mat", "b": "The cat sat on the mat!", "c": "a dog"}
    choice = choose(rows, "margin", 2, texts=texts, max_similarity=0.8)
    assert [c.id for c in choice.chosen] == ["a", "c"]
    assert choice.near_duplicates == 1


def test_committee_without_member_votes_says_so() -> None:
    assert "equals vote entropy" in choose([cls("a", {"x": 1})], "committee", 1).notes[0]


@given(st.integers(min_value=0, max_value=10))
def test_random_choice_does_not_depend_on_row_order(seed: int) -> None:
    rows = [cls(f"r{i}", {"a": 1}) for i in range(20)]
    shuffled = random.Random(seed).sample(rows, len(rows))
    first = {c.id for c in choose(rows, "random", 5, seed=seed).chosen}
    assert first == {c.id for c in choose(shuffled, "random", 5, seed=seed).chosen}


def test_shingles_and_jaccard() -> None:
    assert jaccard(shingles("the cat sat"), shingles("The cat sat down")) == pytest.approx(2 / 3)
    assert shingles("word") == frozenset({"word"})


def test_kappa_by_hand_and_undefined_for_one_label() -> None:
    model = ["a", "a", "b", "b", "a"]
    human = ["a", "b", "b", "b", "a"]
    # observed .8; expected (3*2 + 2*3) / 25 = .48
    assert cohen_kappa(list(zip(model, human, strict=True))) == pytest.approx(0.32 / 0.52)
    # chance agreement 1: both raters used one and the same label
    assert cohen_kappa([("a", "a"), ("a", "a")]) is None
    assert cohen_kappa([]) is None


def test_agreement_per_class_and_unlabeled_rows() -> None:
    pairs = [("a", "a"), ("a", "b"), ("b", "b"), (None, "a")]
    result = agreement(pairs, ["a", "b"], multi_label=False)
    assert result.records == 3 and result.model_unlabeled == 1
    assert result.accuracy == pytest.approx(2 / 3)
    a = result.per_class["a"]
    assert (a.reviewer, a.model, a.both) == (1, 2, 1)
    assert a.accuracy == pytest.approx(2 / 3)
    assert a.kappa == pytest.approx(cohen_kappa_score(["1", "1", "0"], ["1", "0", "0"]))


def test_multi_label_agreement_pools_label_decisions() -> None:
    pairs = [(("x",), ("x", "y")), (("y",), ("y",))]
    result = agreement(pairs, ["x", "y"], multi_label=True)
    assert result.accuracy == pytest.approx(0.5)
    # pooled decisions (model, human): x:(1,1) y:(0,1) | x:(0,0) y:(1,1)
    model, human = ["1", "0", "0", "1"], ["1", "1", "0", "1"]
    assert result.kappa == pytest.approx(cohen_kappa_score(model, human))
    assert result.per_class["y"].reviewer == 2
