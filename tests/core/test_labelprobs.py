"""The label trie walk over token alternatives (``llmlabel.core.labelprobs``)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmlabel.core import labelprobs
from llmlabel.core.request import TokenLogprob

PREFIX = '{"label": "'


def lp(p: float) -> float:
    return math.log(p)


def test_a_label_settled_by_its_first_token_takes_that_tokens_share() -> None:
    nodes = {PREFIX: {"pos": lp(0.6), "neg": lp(0.3), "Pos": lp(0.1)}}
    walk = labelprobs.walk(["positive", "negative"], PREFIX, PREFIX, nodes)
    assert not walk.missing
    assert walk.probs == pytest.approx({"positive": 2 / 3, "negative": 1 / 3})


def test_labels_sharing_a_first_token_need_the_next_node() -> None:
    """card_arrival / card_linking share 'card': the first token says nothing between them."""
    labels = ["card_arrival", "card_linking", "balance"]
    nodes = {PREFIX: {"card": lp(0.8), "balance": lp(0.2)}}
    walk = labelprobs.walk(labels, PREFIX, PREFIX, nodes)
    assert walk.missing == [PREFIX + "card"]
    assert walk.probs == pytest.approx({"card_arrival": 0, "card_linking": 0, "balance": 1})
    nodes[PREFIX + "card"] = {"_arr": lp(0.25), "_link": lp(0.5), "s": lp(0.25)}
    walk = labelprobs.walk(labels, PREFIX, PREFIX, nodes)
    assert not walk.missing
    assert walk.probs == pytest.approx(
        {"card_arrival": 0.8 / 3, "card_linking": 0.8 * 2 / 3, "balance": 0.2}
    )


def test_a_label_ends_at_its_closing_quote() -> None:
    """'no' and 'none': after 'no', the quote settles 'no' and 'ne' settles 'none'."""
    nodes = {PREFIX: {"no": lp(1.0)}, PREFIX + "no": {'"}': lp(0.3), "ne": lp(0.7)}}
    walk = labelprobs.walk(["no", "none"], PREFIX, PREFIX, nodes)
    assert walk.probs == pytest.approx({"no": 0.3, "none": 0.7})


def test_a_token_spanning_the_value_start_walks_from_before_it() -> None:
    tokens = [
        TokenLogprob(text='{"', logprob=0.0),
        TokenLogprob(text="label", logprob=0.0),
        TokenLogprob(text='":', logprob=0.0),
        TokenLogprob(text=' "pos', logprob=lp(0.9), top=((' "pos', lp(0.9)), (' "neg', lp(0.1)))),
        TokenLogprob(text='itive"}', logprob=0.0),
    ]
    text = "".join(t.text for t in tokens)
    start = labelprobs.value_start(text, "label")
    assert text[:start] == PREFIX
    root = labelprobs.root_of(tokens, start)
    assert root == '{"label":'
    walk = labelprobs.walk(["positive", "negative"], PREFIX, root, labelprobs.path_nodes(tokens))
    assert walk.probs == pytest.approx({"positive": 0.9, "negative": 0.1})


def test_labels_are_matched_as_the_json_writes_them() -> None:
    nodes = {PREFIX: {'say \\"hi': lp(0.5), "plain": lp(0.5)}}
    walk = labelprobs.walk(['say "hi"', "plain"], PREFIX, PREFIX, nodes)
    assert walk.probs == pytest.approx({'say "hi"': 0.5, "plain": 0.5})


def test_small_branches_are_not_explored() -> None:
    nodes = {PREFIX: {"a": lp(0.9995), "b": lp(0.0005)}}
    walk = labelprobs.walk(["a1", "a2", "b1", "b2"], PREFIX, PREFIX, nodes)
    assert walk.missing == [PREFIX + "a"]


def test_nothing_fitting_scores_nothing() -> None:
    walk = labelprobs.walk(["yes", "no"], PREFIX, PREFIX, {PREFIX: {"maybe": 0.0}})
    assert walk.probs == {} and walk.missing == []


@given(
    st.dictionaries(
        st.sampled_from(["po", "pos", "ne", "neg", "n", "x", "positive", "negative"]),
        st.floats(-8, 0),
        min_size=1,
    )
)
def test_probabilities_sum_to_one_over_the_labels(alternatives: dict[str, float]) -> None:
    nodes: dict[str, labelprobs.Alternatives] = {PREFIX: alternatives}
    for _ in range(4):  # fill every missing node with the same alternatives
        walk = labelprobs.walk(["positive", "negative", "neutral"], PREFIX, PREFIX, nodes)
        nodes.update(dict.fromkeys(walk.missing, alternatives))
    if walk.probs:
        assert sum(walk.probs.values()) == pytest.approx(1.0)
        assert set(walk.probs) == {"positive", "negative", "neutral"}


def test_argmax_breaks_ties_by_label_order() -> None:
    assert labelprobs.argmax({"b": 0.5, "a": 0.5}, ["b", "a"]) == "b"
    assert labelprobs.mean([{"a": 1.0}, {"b": 1.0}], ["a", "b"]) == {"a": 0.5, "b": 0.5}


def test_debias_divides_by_the_prior_mixed_with_uniform() -> None:
    probs = {"a": 0.8, "b": 0.2}
    assert labelprobs.debias(probs, {"a": 0.5, "b": 0.5}) == pytest.approx(probs)
    # prior a 0.9 -> mixed 0.7 / 0.3: 0.8/0.7 vs 0.2/0.3
    got = labelprobs.debias(probs, {"a": 0.9, "b": 0.1})
    assert got["a"] == pytest.approx((0.8 / 0.7) / (0.8 / 0.7 + 0.2 / 0.3))
    assert labelprobs.debias({}, {"a": 1.0}) == {}


def test_paths_through_the_same_node_pool_their_alternatives() -> None:
    """A sample's own token counts even where another sample's top list lacks it."""
    first = [TokenLogprob(text="pos", logprob=lp(0.9), top=(("pos", lp(0.9)),))]
    second = [TokenLogprob(text="neg", logprob=lp(0.05), top=(("pos", lp(0.9)),))]
    nodes = labelprobs.path_nodes(first, second)
    assert nodes[""] == pytest.approx({"pos": lp(0.9), "neg": lp(0.05)})
    walk = labelprobs.walk(["positive", "negative"], "", "", nodes)
    assert walk.probs["negative"] == pytest.approx(0.05 / 0.95)
