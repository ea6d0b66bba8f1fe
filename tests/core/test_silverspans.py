"""NER silver rows on hand-made records: tokens, BIO tags, entity checks, the card's table."""

from __future__ import annotations

from llmlabel.core.card import CardFacts, render_card
from llmlabel.core.silver import Candidate, SilverOptions, select
from llmlabel.core.silverspans import (
    bio_names,
    entities_of,
    misplaced,
    overlapping,
    tag,
    tokenize,
    type_counts,
)
from llmlabel.core.spans import Span

TEXT = "Angela Merkel visited Canada's capital."
MERKEL = Span(0, 13, "PER", "Angela Merkel")
CANADA = Span(22, 28, "LOC", "Canada")


def test_tokenize_splits_words_and_punctuation_with_offsets() -> None:
    tokens, offsets = tokenize(TEXT)
    assert tokens == ["Angela", "Merkel", "visited", "Canada", "'", "s", "capital", "."]
    assert all(TEXT[s:e] == t for t, (s, e) in zip(tokens, offsets, strict=True))
    assert tokenize("") == ([], ())
    assert tokenize("Zürich, 東京!")[0] == ["Zürich", ",", "東京", "!"]


def test_entities_of_reads_rows_in_text_order_and_refuses_malformed_ones() -> None:
    label = [
        {"start": 22, "end": 28, "label": "LOC", "text": "Canada", "confidence": 0.6},
        {"start": 0, "end": 13, "label": "PER", "text": "Angela Merkel", "confidence": 1.0},
    ]
    assert entities_of(label) == (MERKEL, CANADA)
    assert entities_of([]) == ()
    assert entities_of("PER") is None
    assert entities_of([{"start": 3, "end": 3, "label": "PER", "text": ""}]) is None
    assert entities_of([{"start": True, "end": 3, "label": "PER", "text": "x"}]) is None
    assert entities_of([{"start": 0, "end": 3, "label": "PER"}]) is None


def test_tags_from_the_tokenizer_and_from_the_records_tokens() -> None:
    tagged = tag(TEXT, None, (MERKEL, CANADA))
    assert tagged is not None and tagged.tokenized and tagged.misaligned == 0
    assert tagged.tags == ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O", "O"]
    own = tag(TEXT, ["Angela", "Merkel", "visited", "Canada's", "capital."], (MERKEL, CANADA))
    assert own is not None and not own.tokenized
    # "Canada" ends inside the token "Canada's": the whole token is tagged, and counted
    assert own.tags == ["B-PER", "I-PER", "O", "B-LOC", "O"] and own.misaligned == 1
    assert tag(TEXT, ["Merkel", "Angela"], ()) is None


def test_misplaced_and_overlapping_entities_are_found() -> None:
    assert misplaced((MERKEL, CANADA), TEXT) is None
    wrong = Span(0, 6, "LOC", "Canada")
    assert misplaced((wrong,), TEXT) == wrong
    angela = Span(0, 6, "PER", "Angela")
    assert overlapping((angela, MERKEL)) == (angela, MERKEL)
    assert overlapping((MERKEL, CANADA)) is None


def test_bio_names_and_type_counts() -> None:
    assert bio_names(["PER", "LOC"]) == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    berlin = Span(30, 36, "LOC", "Berlin")
    entities, records = type_counts([(MERKEL, CANADA, berlin), (), None, (CANADA,)])
    assert entities == {"LOC": 3, "PER": 1} and records == {"LOC": 2, "PER": 1}


def ner(id: str, entities: tuple[Span, ...] | None, confidence: float = 1.0) -> Candidate:
    return Candidate(id, "labeled" if entities is not None else "abstained", entities, confidence)


def test_ner_split_is_stratified_by_having_entities() -> None:
    items = [ner(f"e{i}", (MERKEL,)) for i in range(6)] + [ner(f"n{i}", ()) for i in range(4)]
    selection = select(items, SilverOptions(split=0.5, seed=3))
    validation = selection.splits["validation"]
    assert sum(1 for c in validation if c.label) == 3
    assert sum(1 for c in validation if not c.label) == 2
    assert {c.stratum for c in items} == {"entities", "no entities"}
    assert ner("a", None).stratum is None


def test_card_shows_the_entity_type_distribution() -> None:
    items = [ner("a", (MERKEL, CANADA)), ner("b", (CANADA,), 0.6), ner("c", ()), ner("d", None)]
    selection = select(items, SilverOptions(drop_abstained=False))
    facts = CardFacts("news", "jsonl", ["out.jsonl"], selection, {}, [1.0, 0.6, 1.0], kind="ner")
    card = render_card(facts)
    assert "task_categories: [token-classification]" in card
    assert "## Entity-type distribution" in card and "## Label distribution" not in card
    assert "| LOC | 2 | 66.7% | 2 |" in card and "| PER | 1 | 33.3% | 1 |" in card
    assert "Records with no entity: 1." in card
    assert "Records without an answer (abstained or failed): 1." in card
