"""Free text: chrF and ROUGE-L on hand-computed cases and against sacreBLEU / rouge-score, the
medoid vote's rules and properties, and the eval scoring of free-text predictions."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer  # type: ignore[import-untyped]
from sacrebleu.metrics.chrf import CHRF

from llmlabel.core.metrics import Outcome
from llmlabel.core.textsim import (
    SCORING,
    chrf,
    lcs_length,
    mean_chrf,
    mean_rouge_l,
    medoid,
    rouge_l,
    same_text,
    similarity,
    tokens,
)

ascii_text = st.text(alphabet="abcde fg1_.", max_size=40)
texts = st.text(alphabet="ab c", min_size=1, max_size=8)
samples = st.lists(st.one_of(st.none(), texts), min_size=1, max_size=8)


def test_chrf_by_hand() -> None:
    # order 1: P = 2/2, R = 2/3; order 2: P = 1/1, R = 1/2; no 3-grams in "ab"
    # mean P = 1, mean R = 7/12; F2 = 5 * 7/12 / (4 + 7/12) = 7/11
    assert chrf("ab", "abc") == pytest.approx(7 / 11)
    assert chrf("a b", "ab") == 1.0  # whitespace is removed before counting
    # case counts: unigrams P = R = 1/2 ("b"), bigrams 0 ("Ab" vs "ab"): mean 1/4 each way
    assert chrf("Ab", "ab") == pytest.approx(0.25)
    assert chrf("xyz", "abc") == 0.0
    assert chrf("", "abc") == 0.0


def test_rouge_l_by_hand() -> None:
    assert rouge_l("the cat sat", "the cat sat on the mat") == pytest.approx(2 / 3)
    assert rouge_l("a b c d", "a c b d") == pytest.approx(0.75)  # LCS 3 of 4 each way
    assert rouge_l("The CAT!", "the cat") == 1.0
    assert rouge_l("", "the cat") == 0.0
    assert tokens("Grüße, Welt_2") == ["grüße", "welt", "2"]  # Unicode letters stay
    assert lcs_length(list("abcbdab"), list("bdcaba")) == 4


@settings(max_examples=200, deadline=None)
@given(ascii_text, ascii_text)
def test_chrf_equals_sacrebleu_sentence_chrf(hypothesis: str, reference: str) -> None:
    expected = CHRF().sentence_score(hypothesis, [reference]).score / 100
    assert chrf(hypothesis, reference) == pytest.approx(expected, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(ascii_text, ascii_text)
def test_rouge_l_equals_rouge_score_on_ascii(candidate: str, reference: str) -> None:
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    expected = scorer.score(reference, candidate)["rougeL"].fmeasure
    assert rouge_l(candidate, reference) == pytest.approx(expected, abs=1e-9)


@given(ascii_text, ascii_text)
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    assert similarity(a, b) == similarity(b, a)
    assert 0.0 <= similarity(a, b) <= 1.0
    assert similarity(a, a) == 1.0


def test_the_medoid_is_the_sample_closest_to_the_others() -> None:
    near = "the parcel arrived late"
    vote = medoid([near, "the parcel arrived very late", "the parcel came late", "bananas"])
    assert vote.label == near and not vote.tie
    expected = (
        1.0
        + similarity(near, "the parcel arrived very late")
        + similarity(near, "the parcel came late")
        + similarity(near, "bananas")
    ) / 4
    assert vote.confidence == pytest.approx(expected, abs=1e-9)
    assert vote.counts == {
        "bananas": 1,
        "the parcel arrived late": 1,
        "the parcel arrived very late": 1,
        "the parcel came late": 1,
    }


def test_repeated_samples_pull_the_medoid_and_invalid_ones_lower_confidence() -> None:
    vote = medoid(["short", "a longer answer", "a longer answer", None])
    assert vote.label == "a longer answer"
    assert vote.counts == {"a longer answer": 2, "short": 1}
    assert vote.confidence == pytest.approx((2 + similarity("a longer answer", "short")) / 4)


def test_unanimous_samples_give_confidence_one() -> None:
    vote = medoid(["same text", "same text", "same text"])
    assert vote.label == "same text" and vote.confidence == 1.0 and not vote.tie


def test_equal_scores_go_to_the_alphabetically_first_text() -> None:
    vote = medoid(["zebra", "apple"])
    assert vote.label == "apple" and vote.tie
    assert vote.confidence == pytest.approx((1 + similarity("zebra", "apple")) / 2)


def test_no_valid_sample_abstains_with_the_reason() -> None:
    vote = medoid([None, None], (), ["sample 0: text: String should have at least 1 character"])
    assert vote.label is None and vote.confidence == 0.0
    assert vote.abstain_reason is not None and "at least 1 character" in vote.abstain_reason


@given(samples, st.randoms())
def test_sample_order_does_not_matter(values: list[str | None], rnd: random.Random) -> None:
    shuffled = values[:]
    rnd.shuffle(shuffled)
    assert medoid(values) == medoid(shuffled)


@given(samples)
def test_votes_and_confidence_are_consistent(values: list[str | None]) -> None:
    vote = medoid(values)
    valid = [v for v in values if v is not None]
    assert 0.0 <= vote.confidence <= 1.0
    assert sum(vote.counts.values()) == len(valid)
    if valid:
        assert vote.label in valid and vote.confidence >= 1 / len(values)
        assert vote.confidence <= len(valid) / len(values)
    else:
        assert vote.label is None and vote.abstain_reason


def test_scoring_reads_references_and_averages_metrics() -> None:
    outcomes = [
        Outcome("a", gold="the cat sat", predicted="The cat  sat", confidence=0.9),
        Outcome("b", gold="a dog ran", predicted="a cat sat", confidence=0.5),
        Outcome("c", gold="rain today", predicted=None, confidence=0.0, status="abstained"),
    ]
    assert mean_rouge_l(outcomes) == pytest.approx((1.0 + 1 / 3 + 0.0) / 3)
    expected = (chrf("The cat  sat", "the cat sat") + chrf("a cat sat", "a dog ran")) / 3
    assert mean_chrf(outcomes) == pytest.approx(expected)
    assert same_text("The cat  sat", "the cat sat") and not same_text("a cat", "a dog")
    assert SCORING.gold({"id": "a", "reference": "the cat sat"}) == "the cat sat"
    assert SCORING.predicted("a summary") == "a summary"


@pytest.mark.parametrize("row", [{"id": "a"}, {"id": "a", "reference": "  "}, {"text": 3}])
def test_gold_rows_without_a_reference_are_refused(row: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="reference"):
        SCORING.gold(row)
