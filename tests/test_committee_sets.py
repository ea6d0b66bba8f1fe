"""Multi-label and NER committees on the real SmolLM2-135M model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import llmlabel
import llmlabel.api
from llmlabel.errors import InputError
from tests.conftest import SMALL, LabelTickets

ROOT = Path(__file__).resolve().parent.parent
TOPICS = ROOT / "examples" / "committee" / "topics.yaml"
LABELS = {"billing", "shipping", "product", "account", "refund"}


def check_committee(row: dict[str, Any], samples: dict[str, int]) -> None:
    """The invariants of every committee row."""
    assert row["status"] in ("labeled", "abstained"), row.get("error")
    if row["status"] == "abstained":
        assert row["reason"]
    assert 0.0 <= row["confidence"] <= 1.0
    committee = row["committee"]
    assert set(committee) == {
        "votes", "samples", "invalid", "weights", "abstained", "failed", "entropy", "kl",
        "disagreement",
    }  # fmt: skip
    for name, n in samples.items():  # every sample of each prompt is accounted for
        assert committee["samples"][name] == n and 0 <= committee["invalid"][name] <= n
    assert committee["entropy"] >= 0 and committee["disagreement"] >= 0
    assert set(committee["kl"]) == set(committee["votes"]) == set(committee["weights"])
    assert all(kl >= 0 for kl in committee["kl"].values())
    assert not committee["failed"]


def test_a_multi_label_committee_of_two_prompts_and_two_rules(
    tmp_path: Path, label_tickets: LabelTickets
) -> None:
    wanted = {"t01", "t06", "t07"}
    rows = label_tickets(TOPICS, wanted)
    out = tmp_path / "out.jsonl"
    assert set(rows) == wanted
    fired = {"t01": {"refund_words": {"refund": 1}}, "t06": {"refund_words": {"refund": 1}}}
    fired["t07"] = {"thanks_rule": {}}  # [] is an answer: no topic applies
    for record_id, row in rows.items():
        check_committee(row, {"plain": 3, "hot": 2})
        committee = row["committee"]
        rules = {k: v for k, v in committee["votes"].items() if k not in ("plain", "hot")}
        assert rules == fired[record_id]
        assert sorted(committee["abstained"]) == sorted(
            {"refund_words", "thanks_rule"} - set(fired[record_id])
        )
        assert set(row["label_confidence"]) == LABELS
        assert all(0.0 <= c <= 1.0 for c in row["label_confidence"].values())
        if row["status"] == "labeled":
            assert set(row["label"]) <= LABELS
            assert row["confidence"] == pytest.approx(min(row["label_confidence"].values()))
        for name in ("plain", "hot"):
            assert set(committee["votes"][name]) <= LABELS
    # review ranks committee rows by the disagreement each run recorded
    review = llmlabel.api.review(
        out, tmp_path / "in.jsonl", tmp_path / "rev", task=TOPICS, budget=3, strategy="committee"
    )
    assert not review.choice.notes
    for chosen in review.choice.chosen:
        assert chosen.score == pytest.approx(rows[chosen.id]["committee"]["disagreement"])


def write_task(folder: Path, rule: str) -> Path:
    (folder / "rules.py").write_text(rule)
    task = folder / "task.yaml"
    task.write_text(
        "name: t\nkind: multi_label\nlabels: [billing, refund, shipping]\nmax_tokens: 32\n"
        "samples: 2\nbackend: {model: smollm2-135m, parallel: 1}\n"
        "labeling_functions:\n  - {name: py, python: rules.py:rule}\n"
    )
    return task


def test_a_python_rule_returns_a_list_of_labels(tmp_path: Path, smollm2_path: Path) -> None:
    task = write_task(tmp_path, "def rule(record):\n    return ['refund', 'billing']\n")
    [row] = llmlabel.label_records(task, [{"id": "a", "text": "refund me"}], cache=False)
    check_committee(row, {"model": 2})
    assert row["committee"]["votes"]["py"] == {"billing": 1, "refund": 1}
    assert set(row["committee"]["kl"]) == {"model", "py"}


def test_a_multi_label_rule_answering_no_label_names_the_record(
    tmp_path: Path, smollm2_path: Path
) -> None:
    task = write_task(tmp_path, "def rule(record):\n    return ['refund', 'nope']\n")
    with pytest.raises(InputError, match="'py' on record 'x' returned \\['refund', 'nope'\\]"):
        llmlabel.label_records(task, [{"id": "x", "text": "hi"}], cache=False)


def test_an_ner_committee_with_a_gazetteer_rule(tmp_path: Path, smollm2_path: Path) -> None:
    text = "Angela Merkel met Emmanuel Macron in Paris on Monday."
    record = {"id": "n01", "text": text, "tokens": text.split()}
    overrides = {
        **SMALL,
        "samples": 2,
        "labeling_functions": [{"name": "cities", "label": "LOC", "keywords": ["paris"]}],
    }
    [row] = llmlabel.label_records(
        ROOT / "examples" / "ner" / "task.yaml", [record], overrides=overrides, cache=False
    )
    check_committee(row, {"model": 2})
    assert row["committee"]["votes"]["cities"] == {"37:42 LOC Paris": 1}
    assert len(row["tags"]) == len(record["tokens"])
    for entity in row["label"] or []:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert 0.0 <= entity["confidence"] <= 1.0
    assert "37:42 LOC Paris" in row["label_confidence"]
