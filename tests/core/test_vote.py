from hypothesis import given
from hypothesis import strategies as st

from llmlabel.core.vote import plurality

LABELS = ["positive", "negative", "neutral"]
values = st.lists(st.sampled_from([*LABELS, None]), min_size=1, max_size=12)


def test_plurality_takes_the_most_common_label_and_its_share() -> None:
    vote = plurality(["positive", "negative", "positive", "positive", None], LABELS)
    assert vote.label == "positive"
    assert vote.confidence == 3 / 5
    assert vote.counts == {"positive": 3, "negative": 1}
    assert not vote.tie
    assert vote.margin == 2 / 5


def test_tie_is_broken_by_label_order_and_flagged() -> None:
    vote = plurality(["negative", "positive"], LABELS)
    assert vote.label == "positive"
    assert vote.tie
    assert vote.confidence == 0.5
    assert vote.margin == 0.0


def test_no_valid_sample_is_an_abstention_with_a_reason() -> None:
    vote = plurality([None, None], LABELS, ["sample 0: not valid JSON: 'x'"])
    assert vote.label is None
    assert vote.confidence == 0.0
    assert vote.abstain_reason is not None
    assert "no valid answer in 2 samples" in vote.abstain_reason
    assert "not valid JSON" in vote.abstain_reason


@given(values, st.randoms())
def test_vote_does_not_depend_on_sample_order(samples: list[str | None], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = samples[:]
    rnd.shuffle(shuffled)
    assert plurality(samples, LABELS) == plurality(shuffled, LABELS)


@given(st.sampled_from(LABELS), st.integers(1, 10))
def test_unanimous_votes_give_confidence_one(label: str, n: int) -> None:
    vote = plurality([label] * n, LABELS)
    assert vote.label == label
    assert vote.confidence == 1.0
    assert not vote.tie


@given(values)
def test_shares_and_invalid_samples_sum_to_one(samples: list[str | None]) -> None:
    vote = plurality(samples, LABELS)
    invalid = sum(v is None for v in samples)
    assert sum(vote.counts.values()) + invalid == vote.total == len(samples)
    assert 0.0 <= vote.confidence <= 1.0
    if vote.label is not None:
        assert vote.counts[vote.label] == max(vote.counts.values())
