"""Silver-set selection: filters, downsampling and the stratified split are pure and seeded."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from llmlabel.core.silver import (
    TRAIN,
    VALIDATION,
    Candidate,
    SilverOptions,
    histogram,
    select,
    silver_row,
    stratified_split,
)

LABELS = ("pos", "neg", "neutral")


@st.composite
def candidates(draw: st.DrawFn, min_size: int = 0) -> list[Candidate]:
    ids = draw(
        st.lists(st.text(min_size=1, max_size=4), min_size=min_size, max_size=60, unique=True)
    )
    rows = []
    for record_id in ids:
        status = draw(st.sampled_from(("labeled", "labeled", "labeled", "abstained", "failed")))
        label = draw(st.sampled_from(LABELS)) if status == "labeled" else None
        confidence = draw(st.sampled_from((0.0, 0.2, 0.4, 0.6, 0.8, 1.0)))
        rows.append(Candidate(record_id, status, label, confidence if label else 0.0))
    return rows


def ids(items: tuple[Candidate, ...] | list[Candidate]) -> list[str]:
    return [c.id for c in items]


def stratum(c: Candidate) -> str | None:
    return c.label if c.labeled else None


fractions = st.floats(min_value=0.05, max_value=0.95)
seeds = st.integers(min_value=0, max_value=2**32)


@given(candidates(), fractions, seeds)
def test_split_is_a_partition_in_input_order(
    items: list[Candidate], fraction: float, seed: int
) -> None:
    train, validation = stratified_split(items, fraction, seed)
    assert sorted(ids(train) + ids(validation)) == sorted(ids(items))
    assert not set(ids(train)) & set(ids(validation))
    position = {c.id: i for i, c in enumerate(items)}
    for part in (train, validation):
        assert [position[i] for i in ids(part)] == sorted(position[i] for i in ids(part))


@given(candidates(), fractions, seeds)
def test_stratification_keeps_class_ratios_within_one_record(
    items: list[Candidate], fraction: float, seed: int
) -> None:
    _, validation = stratified_split(items, fraction, seed)
    assert len(validation) == math.floor(fraction * len(items) + 0.5)
    sizes = Counter(stratum(c) for c in items)
    chosen = Counter(stratum(c) for c in validation)
    for label, size in sizes.items():
        assert abs(chosen[label] - size * fraction) < 1 + 1e-9


@given(candidates(), fractions, seeds, st.randoms(use_true_random=False))
def test_same_seed_same_result_whatever_the_input_order(
    items: list[Candidate], fraction: float, seed: int, rnd: random.Random
) -> None:
    options = SilverOptions(
        min_confidence=0.4, per_class_max=5, balance=True, split=fraction, seed=seed
    )
    shuffled = items[:]
    rnd.shuffle(shuffled)
    first, again, reordered = (
        select(items, options),
        select(items, options),
        select(shuffled, options),
    )
    assert first == again
    for name in first.splits:
        assert sorted(ids(first.splits[name])) == sorted(ids(reordered.splits[name]))


def test_the_seed_matters() -> None:
    items = [Candidate(f"r{i}", "labeled", "pos", 1.0) for i in range(100)]
    splits = {tuple(ids(stratified_split(items, 0.2, seed)[1])) for seed in range(5)}
    assert len(splits) > 1


@given(candidates(), st.sampled_from((None, 0.0, 0.5, 0.8, 1.0)), seeds)
def test_filters_account_for_every_record(
    items: list[Candidate], threshold: float | None, seed: int
) -> None:
    selection = select(items, SilverOptions(min_confidence=threshold, per_class_max=4, seed=seed))
    removed = sum(step.removed for step in selection.steps)
    assert removed + len(selection.kept) == selection.total == len(items)
    assert all(c.labeled for c in selection.kept)
    if threshold is not None:
        assert all(c.confidence >= threshold for c in selection.kept)
    assert max(Counter(c.label for c in selection.kept).values(), default=0) <= 4


@given(candidates(), seeds)
def test_balance_cuts_every_class_to_the_smallest(items: list[Candidate], seed: int) -> None:
    selection = select(items, SilverOptions(balance=True, seed=seed))
    before = Counter(c.label for c in items if c.labeled)
    after = Counter(c.label for c in selection.kept)
    if before:
        assert set(after.values()) == {min(before.values())}
        assert set(after) == set(before)


@given(candidates(), seeds)
def test_per_class_max_leaves_small_classes_alone(items: list[Candidate], seed: int) -> None:
    selection = select(items, SilverOptions(per_class_max=3, seed=seed))
    before = Counter(c.label for c in items if c.labeled)
    after = Counter(c.label for c in selection.kept)
    assert after == Counter({label: min(3, n) for label, n in before.items()})


@settings(max_examples=50)
@given(candidates(), seeds)
def test_keep_abstained_keeps_unlabeled_rows_past_quotas(items: list[Candidate], seed: int) -> None:
    options = SilverOptions(drop_abstained=False, per_class_max=1, balance=True, seed=seed)
    kept = select(items, options).kept
    assert {c.id for c in kept if not c.labeled} == {c.id for c in items if not c.labeled}


def test_steps_are_named_and_in_order() -> None:
    items = [
        Candidate("a", "labeled", "pos", 0.9),
        Candidate("b", "labeled", "pos", 0.5),
        Candidate("c", "abstained", None, 0.0),
        Candidate("d", "labeled", "neg", 1.0),
        Candidate("e", "labeled", "pos", 1.0),
    ]
    options = SilverOptions(min_confidence=0.8, per_class_max=5, balance=True, split=0.5)
    selection = select(items, options)
    assert [(s.name, s.removed) for s in selection.steps] == [
        ("abstained or failed", 1),
        ("confidence < 0.8", 1),
        ("over 5 per class", 0),
        ("class balance", 1),
    ]
    assert set(selection.splits) == {TRAIN, VALIDATION}
    assert sorted(ids(selection.kept)) in (["a", "d"], ["d", "e"])
    assert selection.split_of().keys() == set(ids(selection.kept))


def test_without_a_split_everything_is_train() -> None:
    items = [Candidate("a", "labeled", "pos", 1.0)]
    assert select(items, SilverOptions()).splits == {TRAIN: (items[0],)}


@pytest.mark.parametrize(
    "bad",
    [{"min_confidence": 1.5}, {"split": 0.0}, {"split": 1.0}, {"per_class_max": 0}, {"seeed": 1}],
)
def test_options_reject_bad_values(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        SilverOptions(**bad)  # type: ignore[arg-type]


def test_histogram_puts_one_in_the_last_bin() -> None:
    assert histogram([0.0, 0.05, 0.1, 0.55, 0.99, 1.0]) == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert sum(histogram([0.3] * 7, bins=4)) == 7


def test_silver_row_keeps_input_columns_that_clash_with_export_columns() -> None:
    data = {"id": 7, "text": "hi", "label": "gold", "confidence": "high"}
    row = silver_row("7", data, "id", {"label": "pos"}, 0.8)
    assert row == {
        "id": "7",
        "text": "hi",
        "input_label": "gold",
        "input_confidence": "high",
        "label": "pos",
        "confidence": 0.8,
    }
    assert silver_row("x", {"doc": "x"}, "doc", {"label": None}, 0.0)["doc"] == "x"
