"""IdSet behaves like set[str] for membership, across growth, and costs few bytes per id."""

from __future__ import annotations

import random

from llmlabel.core.idset import DIGEST, IdSet


def test_membership_matches_a_python_set_across_growth() -> None:
    rng = random.Random(3)
    ids = [f"id-{rng.randrange(10**9)}" for _ in range(5000)]
    compact, plain = IdSet(capacity=8), set()
    for i, record_id in enumerate(ids):
        assert (record_id in compact) == (record_id in plain)
        compact.add(record_id)
        plain.add(record_id)
        if i % 997 == 0:
            assert len(compact) == len(plain)
    assert len(compact) == len(plain)
    assert all(record_id in compact for record_id in ids)
    assert not any(f"other-{i}" in compact for i in range(5000))


def test_adding_twice_counts_once_and_odd_strings_work() -> None:
    ids = IdSet(["a", "", "ü", "\udcff", "a"])
    ids.add("")
    assert len(ids) == 4 and "" in ids and "\udcff" in ids and "b" not in ids
    assert 1 not in ids  # not a str: never a member


def test_memory_is_a_fixed_table_of_digests() -> None:
    ids = IdSet(f"record-{i}" for i in range(10_000))
    slots = len(ids._table) // DIGEST
    assert slots == 16384 and 10_000 / slots <= 0.75  # grown by doubling, at most 3/4 full
