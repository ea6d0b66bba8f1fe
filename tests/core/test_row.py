"""The output row model: every kind's row round-trips byte for byte, old rows are read, and a
malformed row is one error naming its field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmlabel.core.metrics import STATUSES
from llmlabel.core.row import LABELS, Row, read_row
from llmlabel.errors import InputError

EXAMPLES = Path(__file__).parents[2] / "examples"
USAGE = {"prompt_tokens": 120, "completion_tokens": 9}


def provenance(kind: str) -> dict[str, Any]:
    return {"task": "t", "kind": kind, "template": "x.v1", "template_hash": "ab12", "backend":
            "openai_compat", "model": "m", "samples": 3, "temperature": 0.7, "seed": 0,
            "sampler": {"top_p": None}, "confidence": "vote", "model_id": "m"}  # fmt: skip


def labeled(kind: str, label: Any, **extra: Any) -> dict[str, Any]:
    return {"id": "r1", "status": "labeled", "label": label, "confidence": 0.666667,
            "votes": {"a": 2}, "tie": False, "reason": None, "error": None,
            "invalid": ["sample 2: not JSON"], "examples": ["e1"], "usage": USAGE,
            "provenance": provenance(kind), **extra}  # fmt: skip


ENTITY = {"start": 0, "end": 6, "label": "ORG", "text": "Toyota", "confidence": 1.0}
TRIPLE = {"head": {"text": "Ada", "start": 0, "end": 3}, "relation": "born_in",
          "tail": {"text": "London", "start": 12, "end": 18}, "confidence": 0.666667}  # fmt: skip
# fmt: off
ROWS = {
    "classification": labeled(
        "classification", "a", probs={"a": 0.9, "b": 0.1}, confidence_method="logprob",
        logprobs=[-0.1, None, -0.3],
    ),
    "relation": labeled("relation", "works_for", confidence_note="no token logprobs"),
    "multi_label": labeled(
        "multi_label", ["a", "b"], label_confidence={"a": 1.0, "b": 0.666667, "c": 1.0},
        probs={"a": 0.9, "b": 0.7, "c": 0.1}, confidence_method="logprob", samples_used=3,
    ),
    "ner": labeled(
        "ner", [ENTITY], label_confidence={"0:6 ORG Toyota": 1.0}, tags=["B-ORG", "O"],
        dropped_spans=["sample 1: 'Honda' is not in the text"],
    ),
    "relation_triples": labeled("relation_triples", [TRIPLE], dropped_triples=[]),
    "extraction": labeled(
        "extraction", {"total": 12.5, "lines": [{"item": "tea"}]},
        label_confidence={"total": 1.0, "lines.0.item": 0.666667},
    ),
    "free_text": labeled("free_text", "A short summary.", votes={"A short summary.": 3}),
    "calibrated, kept fields": labeled(
        "classification", "a", confidence_raw=0.8, route="keep", input={"text": "hi", "n": 2}
    ),
    "committee": labeled(
        "classification", "a",
        committee={"votes": {"m1": {"a": 2}}, "samples": {"m1": 3}, "invalid": {"m1": 1},
                   "weights": {"m1": 1.0}, "abstained": [], "failed": {}, "entropy": 0.0,
                   "kl": {"m1": 0.0}, "disagreement": 0.0},
    ),
    "reviewed": labeled(
        "classification", "b", source="human", reviewer="ann",
        model={"status": "labeled", "label": "a", "confidence": 0.666667},
    ),
    "abstained": {**labeled("classification", None), "status": "abstained", "confidence": 0.0,
                  "reason": "no valid answer in 3 samples"},
    "failed": {**labeled("classification", None), "status": "failed", "confidence": 0.0,
               "error": "server said 500"},
    "skipped, unreadable line": {**labeled("classification", None), "id": None,
                                 "status": "skipped", "confidence": 0.0,
                                 "error": "in.jsonl:4: not JSON", "where": "in.jsonl:4"},
}
# fmt: on


@pytest.mark.parametrize("name", ROWS)
def test_a_row_of_each_kind_round_trips_byte_for_byte(name: str) -> None:
    line = json.dumps(ROWS[name], ensure_ascii=False)
    row = read_row(json.loads(line), "out.jsonl:1")
    assert json.dumps(row.dump(), ensure_ascii=False) == line


def test_every_kind_with_a_label_type_has_a_row_above() -> None:
    assert set(LABELS) <= {r["provenance"]["kind"] for r in ROWS.values()}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*/predictions.sample.jsonl")))
def test_the_example_outputs_are_read_and_written_back_as_they_are(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, start=1):
        row = read_row(json.loads(line), f"{path}:{n}")
        assert json.dumps(row.dump(), ensure_ascii=False) == line


def test_an_old_row_without_the_newer_keys_is_read() -> None:
    old = {"id": "r01", "status": "labeled", "label": "positive", "confidence": 1.0,
           "votes": {"positive": 5}, "provenance": {"task": "s"}}  # fmt: skip
    row = read_row(old, "old.jsonl:1")
    assert (row.kind, row.key, row.label, row.usage.prompt_tokens) == (None, "r01", "positive", 0)
    assert row.probs is None and row.input is None and row.dump() == old


def test_keys_of_a_later_version_are_kept_not_refused() -> None:
    later = {**ROWS["classification"], "novel": {"x": 1}}
    assert read_row(later, "new.jsonl:1").dump() == later


def test_the_status_is_the_one_list() -> None:
    assert Row.model_fields["status"].annotation.__args__ == STATUSES  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": 1}, "status: Input should be 'labeled', 'abstained', 'failed' or 'skipped'"),
        ({"status": "done"}, "status: Input should be"),
        ({"id": None}, "id: only a skipped row may have no id"),
        ({"confidence": "0.9"}, "confidence: Input should be a valid number (got '0.9')"),
        ({"confidence": 1.5}, "confidence: Input should be less than or equal to 1"),
        ({"votes": {"a": -1}}, "votes.a: Input should be greater than or equal to 0"),
        ({"label": ["a"]}, "a labeled classification row's label is a string; label: Input"),
        ({"usage": {"prompt_tokens": "many"}}, "usage.prompt_tokens: Input should be"),
    ],
)
def test_a_malformed_row_is_one_error_naming_where_and_the_field(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError) as caught:
        read_row({**ROWS["classification"], **change}, "out.jsonl:7")
    assert caught.value.where == "out.jsonl:7"
    assert message in caught.value.message and "\n" not in caught.value.one_line()


@pytest.mark.parametrize(
    ("kind", "label", "message"),
    [
        ("multi_label", "a", "is a list of strings; label: Input should be a valid list"),
        ("ner", [{"start": "0", "end": 6, "label": "ORG", "text": "T"}], "label.0.start:"),
        ("ner", [{"start": 0, "end": 6, "label": "ORG"}], "label.0.text: missing"),
        ("relation_triples", [{"relation": "r"}], "label.0.head: missing"),
        ("extraction", "total: 3", "is an object"),
        ("free_text", {"text": "x"}, "is a string"),
    ],
)
def test_a_label_of_the_wrong_type_for_the_kind_names_it(
    kind: str, label: Any, message: str
) -> None:
    with pytest.raises(InputError, match="not an output row") as caught:
        read_row(labeled(kind, label), "out.jsonl:2")
    assert message in caught.value.message


def test_a_labeled_row_without_a_confidence_is_read_as_zero() -> None:
    row = read_row({"id": "a", "status": "labeled", "label": "x"}, "w")
    assert row.confidence == 0.0 and row.dump() == {"id": "a", "status": "labeled", "label": "x"}


def test_only_labeled_rows_carry_a_checked_label() -> None:
    failed = {**ROWS["failed"], "label": ["leftover"]}
    assert read_row(failed, "w").label == ["leftover"]
