"""NER spans: offset recovery, span voting, BIO tags and strict span metrics (against seqeval)."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seqeval.metrics import classification_report, f1_score

from llmlabel.core.metrics import Outcome
from llmlabel.core.schema import json_schema
from llmlabel.core.scoring import Unscorable
from llmlabel.core.spans import (
    Span,
    SpanAnswer,
    bio_spans,
    bio_tags,
    gold_spans,
    ner_model,
    per_type,
    predicted_spans,
    recover,
    span_f1,
    span_macro_f1,
    span_precision,
    span_recall,
    span_vote,
    token_offsets,
)

TEXT = "Paris and paris, then Paris again; Parisian news from the US and USA."


def test_repeated_mentions_take_the_occurrences_in_order() -> None:
    spans, dropped = recover([("Paris", "LOC"), ("Paris", "LOC"), ("paris", "LOC")], TEXT)
    assert sorted(spans) == [
        Span(0, 5, "LOC", "Paris"),
        Span(10, 15, "LOC", "paris"),
        Span(22, 27, "LOC", "Paris"),
    ]
    assert dropped == ()


def test_mentions_not_in_the_text_are_dropped_with_the_reason() -> None:
    spans, dropped = recover([("Berlin", "LOC"), ("Paris", "LOC")] + [("Paris", "LOC")] * 2, TEXT)
    assert len(spans) == 2  # "Parisian" is not a whole-word occurrence of "Paris"
    assert dropped == (
        "'Berlin' (LOC) is not in the text",
        "'Paris' (LOC) is in the text 2 time(s), each taken by another entity of the answer",
    )


def test_a_short_mention_is_never_found_inside_a_longer_one() -> None:
    text = "Barack Obama met Merkel. Obama left."
    mentions = [("Barack Obama", "PER"), ("Merkel", "PER"), ("Obama", "PER")]
    spans, dropped = recover(mentions, text)
    assert sorted(spans) == [
        Span(0, 12, "PER", "Barack Obama"),
        Span(17, 23, "PER", "Merkel"),
        Span(25, 30, "PER", "Obama"),
    ]
    assert not dropped
    # the order the model names them in does not matter
    assert recover(mentions[::-1], text) == (spans, ())
    # three samples that agree are unanimous: every span kept at confidence 1
    vote = span_vote([SpanAnswer(spans)] * 3, ["PER"])
    assert not vote.tie and vote.confidence == 1.0 and len(vote.label or []) == 3


def test_two_entities_in_one_token_leave_the_token_to_the_first() -> None:
    offsets = token_offsets(["ABC-DEF", "x"], "ABC-DEF x")
    assert offsets is not None
    assert bio_tags([(0, 3, "A"), (4, 7, "B")], offsets) == ["B-A", "O"]
    assert bio_tags([(0, 3, "A"), (4, 9, "B")], offsets) == ["B-A", "B-B"]


def test_repeats_of_one_string_never_overlap() -> None:
    spans, dropped = recover([("ha ha", "X")] * 2, "ha ha ha")
    assert spans == {Span(0, 5, "X", "ha ha")}
    assert dropped == (
        "'ha ha' (X) is in the text 2 time(s), each taken by another entity of the answer",
    )


def test_whole_words_are_preferred_and_surrounding_space_is_ignored() -> None:
    spans, _ = recover([(" US ", "LOC"), ("Parisian", "MISC")], TEXT)
    assert {(TEXT[s.start : s.end], s.label) for s in spans} == {
        ("US", "LOC"),
        ("Parisian", "MISC"),
    }
    assert next(s for s in spans if s.label == "LOC").start == TEXT.index("US and")


def test_a_substring_is_found_when_there_is_no_whole_word_occurrence() -> None:
    spans, dropped = recover([("Pari", "LOC")], TEXT)
    assert spans == {Span(0, 4, "LOC", "Pari")} and not dropped


def test_token_offsets_and_bio_tags() -> None:
    text = "New York  is big ."
    tokens = ["New", "York", "is", "big", "."]
    offsets = token_offsets(tokens, text)
    assert offsets == ((0, 3), (4, 8), (10, 12), (13, 16), (17, 18))
    assert bio_tags([(0, 8, "LOC"), (13, 16, "MISC")], offsets) == [
        "B-LOC", "I-LOC", "O", "B-MISC", "O"
    ]  # fmt: skip
    assert token_offsets(["New", "Jersey"], text) is None


def test_bio_spans_read_chunks_as_seqeval_does() -> None:
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG", "B-MISC"]
    assert bio_spans(tags) == [
        (0, 2, "PER"),
        (3, 5, "LOC"),
        (5, 6, "LOC"),
        (6, 7, "ORG"),
        (7, 8, "MISC"),
    ]


def test_gold_spans_from_entities_or_from_tags() -> None:
    tokens = ["Nadim", "Ladki", "went", "to", "AL-AIN"]
    row = {
        "text": " ".join(tokens),
        "tokens": tokens,
        "tags": ["B-PER", "I-PER", "O", "O", "B-LOC"],
    }
    assert gold_spans(row) == {(0, 11, "PER"), (20, 26, "LOC")}
    entities = [{"start": 0, "end": 11, "label": "PER", "text": "Nadim Ladki"}]
    assert gold_spans({**row, "entities": entities}) == {(0, 11, "PER")}
    with pytest.raises(Unscorable, match="has no entities"):
        gold_spans({"text": "x"})
    with pytest.raises(Unscorable, match="no list of entities"):
        predicted_spans("PER")


def test_the_answer_model_bounds_entities_and_closes_labels() -> None:
    model = ner_model(["PER", "LOC"])
    assert json_schema(model)["x-guidance"] == {"item_separator": ", ", "key_separator": ": "}
    assert model.model_validate({"entities": [{"text": "Ann", "label": "PER"}]})
    for bad in ({"entities": [{"text": "Ann", "label": "ORG"}]}, {"entities": [{"text": ""}]}):
        with pytest.raises(ValueError):
            model.model_validate(bad)


A, B, C = Span(0, 5, "LOC", "Paris"), Span(10, 15, "LOC", "paris"), Span(0, 5, "PER", "Paris")


def answer(*spans: Span, dropped: tuple[str, ...] = ()) -> SpanAnswer:
    return SpanAnswer(frozenset(spans), dropped, tokens=((0, 5), (6, 9), (10, 15)))


def test_spans_found_in_more_than_half_the_samples_are_kept() -> None:
    vote = span_vote([answer(A, B), answer(A), answer(A, B, dropped=("'X' (LOC) ...",)), None], [])
    assert vote.label == [
        {"start": 0, "end": 5, "label": "LOC", "text": "Paris", "confidence": 0.75},
        {"start": 10, "end": 15, "label": "LOC", "text": "paris", "confidence": 0.5},
    ]
    assert vote.counts == {A.key: 3, B.key: 2}
    assert vote.confidence == 0.5 and not vote.tie
    assert vote.extra == {
        "tags": ["B-LOC", "O", "B-LOC"],
        "dropped_spans": ["sample 2: 'X' (LOC) ..."],
    }


def test_exactly_half_is_a_tie_not_kept_and_no_entities_can_be_unanimous() -> None:
    vote = span_vote([answer(A), answer()], [])
    assert vote.label == [] and vote.tie and vote.confidence == 0.5
    vote = span_vote([answer(), answer()], [])
    assert vote.label == [] and vote.confidence == 1.0 and not vote.tie


def test_overlapping_kept_spans_keep_the_better_supported_one() -> None:
    vote = span_vote([answer(A, C), answer(A, C), answer(A)], ["PER", "LOC"])
    assert [e["label"] for e in vote.label] == ["LOC"] and vote.tie


def test_no_valid_sample_is_an_abstention_with_the_reason() -> None:
    vote = span_vote([None, None], [], ["sample 0: not valid JSON"])
    assert vote.label is None and vote.confidence == 0.0
    assert vote.abstain_reason == "no valid answer in 2 samples (first: sample 0: not valid JSON)"


span_sets = st.frozensets(st.sampled_from([A, B, C, Span(20, 25, "ORG", "Acme!")]), max_size=4)
samples = st.lists(
    st.one_of(st.none(), span_sets.map(lambda s: answer(*s))), min_size=1, max_size=8
)


@given(samples, st.randoms())
def test_vote_properties(values: list[SpanAnswer | None], rnd: random.Random) -> None:
    vote = span_vote(values, ["LOC", "PER", "ORG"])
    shuffled = values[:]
    rnd.shuffle(shuffled)
    again = span_vote(shuffled, ["LOC", "PER", "ORG"])
    assert (again.label, again.confidence, again.counts) == (
        vote.label,
        vote.confidence,
        vote.counts,
    )
    assert 0.0 <= vote.confidence <= 1.0
    valid = [v for v in values if v is not None]
    if not valid:
        assert vote.label is None and vote.abstain_reason
        return
    assert all(0 < c <= len(valid) for c in vote.counts.values())
    assert sum(vote.counts.values()) == sum(len(v.spans) for v in valid)
    kept = [(e["start"], e["end"]) for e in vote.label]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(kept))  # sorted, no overlaps
    if (
        len(set(valid)) == 1
        and len(valid) == len(values)
        and len(vote.label) == len(valid[0].spans)
    ):
        assert vote.confidence == 1.0


# Metrics: hand-computed, then against seqeval on the same tags.


def outcome(
    gold: set[tuple[int, int, str]], predicted: set[tuple[int, int, str]] | None
) -> Outcome:
    return Outcome(
        id="x",
        gold=frozenset(gold),
        predicted=None if predicted is None else frozenset(predicted),
        confidence=1.0 if predicted is not None else 0.0,
        status="labeled" if predicted is not None else "abstained",
    )


# gold: 2 PER, 1 LOC, 1 ORG; predicted: PER right, PER wrong end, LOC right, MISC extra.
CASE = [
    outcome({(0, 5, "PER"), (10, 15, "LOC")}, {(0, 5, "PER"), (10, 15, "LOC"), (20, 22, "MISC")}),
    outcome({(0, 9, "PER")}, {(0, 8, "PER")}),
    outcome({(3, 7, "ORG")}, None),
]


def test_span_metrics_by_hand() -> None:
    assert span_precision(CASE) == pytest.approx(2 / 4)
    assert span_recall(CASE) == pytest.approx(2 / 4)
    assert span_f1(CASE) == pytest.approx(0.5)
    # per type F1: LOC 1, MISC 0, ORG 0, PER 2*(.5*.5)/1 = .5
    assert span_macro_f1(CASE) == pytest.approx((1 + 0 + 0 + 0.5) / 4)
    assert [(s.label, s.support, s.predicted) for s in per_type(CASE)] == [
        ("LOC", 1, 1), ("MISC", 0, 1), ("ORG", 1, 0), ("PER", 2, 2)
    ]  # fmt: skip


TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-MISC"]


@pytest.mark.parametrize("seed", range(20))
def test_span_metrics_match_seqeval(seed: int) -> None:
    rnd = random.Random(seed)
    sentences = [[rnd.choice(TAGS) for _ in range(rnd.randint(1, 12))] for _ in range(15)]
    y_true = [[rnd.choice(TAGS) for _ in s] for s in sentences]
    y_pred = [[t if rnd.random() < 0.6 else rnd.choice(TAGS) for t in s] for s in y_true]
    outcomes = [
        outcome(set(bio_spans(t)), set(bio_spans(p))) for t, p in zip(y_true, y_pred, strict=True)
    ]
    assert span_f1(outcomes) == pytest.approx(f1_score(y_true, y_pred))
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    assert span_macro_f1(outcomes) == pytest.approx(report["macro avg"]["f1-score"])
    assert span_precision(outcomes) == pytest.approx(report["micro avg"]["precision"])
    for score in per_type(outcomes):
        if score.label in report:
            assert score.f1 == pytest.approx(report[score.label]["f1-score"])
