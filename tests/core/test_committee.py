"""Committee vote and disagreement on hand-computed cases, rules, and the spec's checks."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmlabel.core.committee import (
    INVALID,
    Ballot,
    Member,
    committee_vote,
    disagreement,
    keyword_rule,
    merge_single,
    regex_rule,
)
from llmlabel.core.review import Candidate, uncertainty
from llmlabel.core.spec import parse_task
from llmlabel.core.vote import plurality
from llmlabel.errors import ConfigError

LN2 = math.log(2)


def test_two_prompts_and_a_rule_tie_broken_by_label_order() -> None:
    # p1 = {a: 1}, p2 = {a: .5, b: .5}, rule = {b: 1}: consensus {a: .5, b: .5}
    members = [Member("p1", {"a": 2}), Member("p2", {"a": 1, "b": 1}), Member("lf", {"b": 1})]
    vote, found = committee_vote(members, ["a", "b"])
    assert (vote.label, vote.tie) == ("a", True) and vote.confidence == pytest.approx(0.5)
    assert vote.counts == {"a": 3, "b": 2} and vote.total == 5
    assert found.consensus == pytest.approx({"a": 0.5, "b": 0.5})
    assert found.entropy == pytest.approx(LN2)
    assert found.kl == pytest.approx({"p1": LN2, "p2": 0.0, "lf": LN2})
    assert found.disagreement == pytest.approx(2 * LN2 / 3)
    assert committee_vote(members, ["b", "a"])[0].label == "b"


def test_weights_shift_the_consensus() -> None:
    # p = {a: .75, b: .25} (weight 1), rule b (weight 2): c = {a: .25, b: .75}
    members = [Member("p", {"a": 3, "b": 1}), Member("lf", {"b": 1}, weight=2.0)]
    vote, found = committee_vote(members, ["a", "b"])
    assert (vote.label, vote.tie) == ("b", False) and vote.confidence == pytest.approx(0.75)
    assert found.entropy == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))
    assert found.kl["p"] == pytest.approx(0.5 * math.log(3))  # .75 ln 3 + .25 ln(1/3)
    assert found.kl["lf"] == pytest.approx(math.log(4 / 3))
    assert found.disagreement == pytest.approx((0.5 * math.log(3) + 2 * math.log(4 / 3)) / 3)
    assert found.disagreement == pytest.approx(0.3748901, abs=1e-7)


def test_invalid_samples_are_an_outcome_and_never_win() -> None:
    vote, found = committee_vote([Member("p", {"a": 1}, invalid=3)], ["a"])
    assert vote.label == "a" and vote.confidence == pytest.approx(0.25)
    assert found.consensus == pytest.approx({"a": 0.25, INVALID: 0.75})


def test_no_valid_vote_abstains_with_the_reason() -> None:
    vote, _ = committee_vote([Member("p", {}, invalid=2)], ["a"], ["p: sample 0: bad JSON"])
    assert vote.label is None and vote.confidence == 0.0
    assert (
        vote.abstain_reason
        == "no valid vote from 1 committee member (first: p: sample 0: bad JSON)"
    )


def test_a_member_without_samples_takes_no_part() -> None:
    found = disagreement([Member("p", {"a": 2}), Member("failed", {})])
    assert found.kl == {"p": 0.0} and found.disagreement == 0.0


@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=12))
def test_one_member_is_plain_plurality(values: list[str | None]) -> None:
    votes = {k: values.count(k) for k in ("a", "b", "c") if values.count(k)}
    vote, found = committee_vote([Member("p", votes, values.count(None))], ["a", "b", "c"])
    alone = plurality(values, ["a", "b", "c"])
    assert (vote.label, vote.tie) == (alone.label, alone.tie)
    assert vote.confidence == pytest.approx(alone.confidence)
    assert found.disagreement == pytest.approx(0.0, abs=1e-12)


@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.floats(0.1, 5.0)),
        min_size=1,
        max_size=5,
    )
)
def test_consensus_is_a_distribution_and_divergences_are_non_negative(
    spec: list[tuple[int, int, float]],
) -> None:
    members = [Member(f"m{i}", {"a": a, "b": b}, 0, w) for i, (a, b, w) in enumerate(spec)]
    found = disagreement(members)
    if any(a + b for a, b, _ in spec):
        assert sum(found.consensus.values()) == pytest.approx(1.0)
    assert all(kl >= 0 for kl in found.kl.values())
    assert 0.0 <= found.disagreement <= found.entropy + 1e-9


def test_review_scores_a_committee_row_with_the_same_disagreement() -> None:
    members = [Member("p", {"a": 3, "b": 1}), Member("lf", {"b": 1}, weight=2.0)]
    vote, found = committee_vote(members, ["a", "b"])
    candidate = Candidate("r", vote.label, vote.confidence, vote.counts, 5, committee=members)
    assert uncertainty(candidate, "committee") == pytest.approx(found.disagreement)


def test_keyword_rule_matches_whole_words_in_any_case() -> None:
    rule = keyword_rule("billing", ["refund", "credit card"], ["text", "subject"])
    assert rule({"text": "I want a REFUND.", "subject": None}) == "billing"
    assert rule({"text": "charged twice", "subject": "my Credit  Card"}) is None
    assert rule({"text": "charged twice", "subject": "my credit card"}) == "billing"
    assert rule({"text": "refunded already", "subject": ""}) is None  # not the whole word
    with pytest.raises(KeyError):
        rule({"text": "refund"})


def test_regex_rule() -> None:
    rule = regex_rule("billing", re.compile(r"\$\d+"), ["text"])
    assert rule({"text": "charged $40 twice"}) == "billing"
    assert rule({"text": "charged twice"}) is None


BASE = {"name": "t", "labels": ["billing", "bug"]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"labeling_functions": [{"name": "x", "keywords": ["a"]}]}, "needs the `label:`"),
        (
            {"labeling_functions": [{"name": "x", "label": "bug", "regex": "(", "keywords": []}]},
            "bad regex",
        ),
        (
            {"labeling_functions": [{"name": "x", "label": "bug", "keywords": ["refund", " "]}]},
            "labeling function 'x': a keyword is blank",
        ),
        (
            {"labeling_functions": [{"name": "x", "label": "bug", "regex": "refund|"}]},
            "the regex matches empty text, so it would vote on every record",
        ),
        (
            {
                "labeling_functions": [
                    {"name": "x", "label": "bug", "keywords": ["a"], "regex": "a"}
                ]
            },
            "exactly one of keywords, regex, python (has keywords, regex)",
        ),
        ({"labeling_functions": [{"name": "x", "label": "nope", "keywords": ["a"]}]}, "x -> nope"),
        (
            {"labeling_functions": [{"name": "x", "label": "bug", "python": "r.py:f"}]},
            "returns its label",
        ),
        ({"committee": [{"name": "a"}, {"name": "a"}]}, "used twice: a"),
        (
            {"labeling_functions": [{"name": "model", "label": "bug", "keywords": ["a"]}]},
            "used twice: model (`model` is the task's own prompt)",
        ),
        ({"committee": [{"weight": 0}]}, "greater than 0"),
        (
            {
                "kind": "ner",
                "fields": ["text", "title"],
                "labeling_functions": [
                    {"name": "x", "label": "bug", "keywords": ["a"], "fields": ["title"]}
                ],
            },
            "labeling functions x read fields other than text, where ner rules find",
        ),
    ],
)
def test_spec_rejects_bad_committees(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_task({**BASE, **extra})


@pytest.mark.parametrize("kind", ["multi_label", "ner"])
def test_spec_takes_committees_on_set_kinds(kind: str) -> None:
    lf = {"name": "x", "label": "bug", "keywords": ["crash"]}
    spec = parse_task({**BASE, "kind": kind, "committee": [{}], "labeling_functions": [lf]})
    assert spec.committee and spec.labeling_functions


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("free_text", {"labels": []}),
        ("extraction", {"labels": [], "schema": "s.py:S"}),
        ("relation_triples", {}),
    ],
)
def test_spec_refuses_committees_on_other_kinds_in_one_line(
    kind: str, extra: dict[str, object]
) -> None:
    task = {**BASE, **extra, "kind": kind, "labeling_functions": [{"name": "x", "python": "r:f"}]}
    with pytest.raises(ConfigError) as caught:
        parse_task(task)
    message = caught.value.one_line()
    assert "\n" not in message
    assert f"committees and labeling functions do not work on {kind} tasks" in message
    assert "(only on classification, multi_label, ner, relation)" in message
    assert caught.value.hint is not None and "remove `committee:`" in caught.value.hint


def test_merge_single_is_the_committee_vote_of_the_ballots() -> None:
    ballots = [Ballot("p", ("a", "a", "a", "b", None)), Ballot("lf", ("b",), weight=2.0)]
    merged = merge_single(ballots, ["a", "b"])
    members = [Member("p", {"a": 3, "b": 1}, invalid=1), Member("lf", {"b": 1}, weight=2.0)]
    vote, found = committee_vote(members, ["a", "b"])
    assert merged.vote == vote and merged.found == found
    assert merged.votes == {"p": {"a": 3, "b": 1}, "lf": {"b": 1}}
