"""The dataset card is plain text built from the selection: every number traceable."""

from __future__ import annotations

from llmlabel.core.card import MARKER, CardFacts, provenance_key, render_card
from llmlabel.core.silver import Candidate, SilverOptions, select

ITEMS = [
    Candidate("a", "labeled", "pos", 1.0),
    Candidate("b", "labeled", "pos", 0.8),
    Candidate("c", "labeled", "neg", 1.0),
    Candidate("d", "labeled", "neg", 0.6),
    Candidate("e", "abstained", None, 0.0),
    Candidate("f", "failed", None, 0.0),
]


def card(options: SilverOptions, fmt: str = "jsonl", files: tuple[str, ...] = ()) -> str:
    selection = select(ITEMS, options)
    key = provenance_key({"task": "t", "template": "classify.v1", "template_hash": "h1"})
    return render_card(
        CardFacts(
            title="t",
            format=fmt,
            files=files,
            selection=selection,
            provenance={key: len(ITEMS)},
            labeled_confidences=[c.confidence for c in ITEMS if c.labeled],
            split=options.split,
            seed=options.seed,
        )
    )


def test_split_distribution_counts_unlabeled_rows_per_split() -> None:
    text = card(SilverOptions(drop_abstained=False, split=0.5), files=("train.jsonl",) * 2)
    assert text.splitlines()[4] == MARKER
    assert "| neg | 1 | 1 | 2 | 33.3% |" in text
    assert "| (no label: abstained or failed) | 1 | 1 | 2 | 33.3% |" in text
    assert "| 6 | t | classify.v1 | h1 |" in text


def test_histogram_has_ten_bins_and_both_columns() -> None:
    text = card(SilverOptions(min_confidence=0.8), fmt="hf")
    bins = [line for line in text.splitlines() if line.startswith("[")]
    assert len(bins) == 10
    assert bins[6].split()[2:4] == ["1", "0"]  # [0.6, 0.7): labeled 1, exported 0
    assert bins[9].split()[2:4] == ["2", "2"]
    assert "Format: hf. Records: 3 of 6 predictions." in text
    assert "push_to_hub" in text
