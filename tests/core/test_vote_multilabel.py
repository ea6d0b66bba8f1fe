"""Multi-label voting: per-label majority over valid samples, confidence over all samples."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from llmlabel.core.vote import per_label_majority

LABELS = ["billing", "shipping", "refund"]
label_sets = st.frozensets(st.sampled_from(LABELS))
samples = st.lists(st.one_of(st.none(), label_sets), min_size=1, max_size=10)


def test_a_label_is_kept_when_more_than_half_the_valid_samples_have_it() -> None:
    vote = per_label_majority(
        [
            frozenset({"billing", "refund"}),
            frozenset({"billing"}),
            frozenset({"refund", "billing"}),
        ],
        LABELS,
    )
    assert vote.label == ["billing", "refund"]  # in task label order
    assert vote.counts == {"billing": 3, "refund": 2}
    assert vote.label_confidence == {"billing": 1.0, "shipping": 1.0, "refund": round(2 / 3, 6)}
    assert vote.confidence == 2 / 3 and not vote.tie


def test_exactly_half_is_a_tie_and_not_kept() -> None:
    vote = per_label_majority([frozenset({"shipping"}), frozenset()], LABELS)
    assert vote.label == [] and vote.tie
    assert vote.confidence == 0.5


def test_invalid_samples_lower_confidence_but_do_not_flip_decisions() -> None:
    vote = per_label_majority([frozenset({"refund"}), frozenset({"refund"}), None, None], LABELS)
    assert vote.label == ["refund"]
    assert vote.confidence == 0.5  # 2 of 4 samples agree on each decision


def test_an_empty_answer_is_a_valid_answer() -> None:
    vote = per_label_majority([frozenset(), frozenset()], LABELS)
    assert vote.label == [] and vote.confidence == 1.0 and vote.abstain_reason is None


def test_no_valid_sample_abstains_with_the_reason() -> None:
    vote = per_label_majority([None, None], LABELS, ["sample 0: not valid JSON: 'x'"])
    assert vote.label is None and vote.confidence == 0.0
    assert vote.abstain_reason is not None and "not valid JSON" in vote.abstain_reason


@given(samples, st.randoms())
def test_order_of_samples_does_not_matter(
    values: list[frozenset[str] | None], rnd: random.Random
) -> None:
    shuffled = values[:]
    rnd.shuffle(shuffled)
    assert per_label_majority(values, LABELS) == per_label_majority(shuffled, LABELS)


@given(label_sets, st.integers(1, 8))
def test_unanimous_samples_give_that_set_with_confidence_one(
    chosen: frozenset[str], n: int
) -> None:
    vote = per_label_majority([chosen] * n, LABELS)
    assert vote.label == [label for label in LABELS if label in chosen]
    assert vote.confidence == 1.0


@given(samples)
def test_confidences_are_shares_and_the_record_takes_the_weakest(
    values: list[frozenset[str] | None],
) -> None:
    vote = per_label_majority(values, LABELS)
    if vote.label is None:
        assert all(v is None for v in values)
        return
    assert vote.label_confidence is not None
    assert all(0.0 <= c <= 1.0 for c in vote.label_confidence.values())
    assert (
        vote.confidence == min(vote.label_confidence.values())
        or abs(vote.confidence - min(vote.label_confidence.values())) < 1e-6
    )
    valid = [v for v in values if v is not None]
    for label in vote.label:
        assert 2 * sum(label in v for v in valid) > len(valid)
