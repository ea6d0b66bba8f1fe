"""``vary_prompts``: each sample of a record asked under its own prompt (labels and few-shot
examples in a seeded order, one greedy answer each), the rows merged into the mean label
distribution. The fake backend here answers with the first label its prompt lists: a model
with pure position bias, which varied prompts expose and one prompt hides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.core.request import LabelRequest
from llmlabel.errors import ConfigError
from llmlabel.task import load
from tests.fakes import FakeBackend

LABELS = ["billing", "shipping", "refund", "account"]
EXAMPLES = [
    {"id": f"e{i}", "text": text, "label": label}
    for i, (text, label) in enumerate(
        [("charged twice", "billing"), ("parcel late", "shipping"), ("money back", "refund")]
    )
]


def task(**extra: Any) -> dict[str, Any]:
    return {
        "name": "tickets",
        "description": "Route a support ticket.",
        "labels": LABELS,
        "examples": {"items": EXAMPLES, "k": 3},
        "vary_prompts": True,
        "samples": 4,
        **extra,
    }


def listed(request: LabelRequest) -> list[str]:
    """The labels in the order the system prompt lists them."""
    system = request.messages[0].content
    return sorted(LABELS, key=lambda label: system.index(f"- {label}"))


def first_listed(request: LabelRequest, i: int) -> str:
    return json.dumps({"label": listed(request)[0]})


def test_variant_zero_is_the_task_and_the_others_reorder_labels_and_examples() -> None:
    prepared = load(task())
    record = {"text": "where is my parcel"}
    as_written, _ = prepared.messages_for("r1", record)
    assert prepared.variant(0).messages_for("r1", record)[0] == as_written
    orders, shots = set(), set()
    for i in range(1, 6):
        variant = prepared.variant(i)
        assert variant.spec.samples == 1 and variant.spec.effective_temperature == 0
        assert sorted(variant.labels) == sorted(LABELS)
        assert variant.schema["properties"]["label"]["enum"] == variant.labels
        messages, ids = variant.messages_for("r1", record)
        assert messages == variant.messages_for("r1", record)[0]  # seeded: the same again
        orders.add(tuple(variant.labels))
        shots.add(tuple(ids))
    assert len(orders) > 1 and len(shots) > 1


def test_a_position_biased_model_gets_a_spread_vote_and_a_low_confidence(tmp_path: Path) -> None:
    backend = FakeBackend(first_listed)
    [single] = llmlabel.label_records(
        task(vary_prompts=False, samples=1),
        [{"id": "r1", "text": "hi"}],
        backend=FakeBackend(first_listed),
        cache=False,
    )
    [row] = llmlabel.label_records(
        task(), [{"id": "r1", "text": "hi"}], backend=backend, cache=False
    )
    assert single["label"] == "billing" and single["confidence"] == 1.0  # one prompt: sure
    assert len(backend.requests) == 4 and all(r.n == 1 for r in backend.requests)
    assert {r.temperature for r in backend.requests} == {0.0}
    firsts = [listed(r)[0] for r in backend.requests]
    assert sum(row["votes"].values()) == 4 and row["votes"] == {
        label: firsts.count(label) for label in LABELS if label in firsts
    }
    assert row["confidence"] == max(row["votes"].values()) / 4 < 1
    assert row["probs"] == pytest.approx({label: firsts.count(label) / 4 for label in LABELS})
    assert row["usage"]["prompt_tokens"] == 4 * 10  # every variant's usage
    assert row["provenance"]["samples"] == 4


def test_the_plan_counts_a_request_per_variant(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"r{i}", "text": "hi"}) + "\n" for i in range(3)))
    backend = FakeBackend(first_listed)
    plan = llmlabel.plan(task(), source)
    result = llmlabel.label(task(), source, tmp_path / "out.jsonl", backend=backend, cache=False)
    assert plan.requests == result.stats.requests == len(backend.requests) == 12
    assert not any("repeat" in note for note in plan.notes)


@pytest.mark.parametrize(
    "extra",
    [
        {"kind": "multi_label"},
        {"committee": [{"name": "a"}, {"name": "b"}]},
        {"adaptive": True, "samples": 6},
        {"shortlist": {"k": 2}},
    ],
    ids=["multi-label", "committee", "adaptive", "shortlist"],
)
def test_settings_it_cannot_run_with_are_one_line_errors(extra: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="vary_prompts") as caught:
        load(task(**extra))
    assert "\n" not in caught.value.one_line()


def test_smollm2_rows_merge_the_variants_distributions(smollm2_path: Path) -> None:
    records = [{"id": "a", "text": "The parcel never arrived."}, {"id": "b", "text": "Refund?"}]
    settings = task(samples=3, backend={"model": str(smollm2_path), "n_ctx": 2048})
    for row in llmlabel.label_records(settings, records, cache=False):
        assert row["status"] == "labeled" and row["confidence_method"] == "logprob"
        assert sum(row["probs"].values()) == pytest.approx(1, abs=1e-4)
        assert row["label"] == max(row["probs"], key=row["probs"].get)
        assert row["confidence"] == pytest.approx(row["probs"][row["label"]])
        assert sum(row["votes"].values()) == 3
