"""Committee runs on the real SmolLM2-135M model: two prompts and labeling functions vote."""

from __future__ import annotations

from pathlib import Path

import pytest

import llmlabel
import llmlabel.api
from llmlabel.core.committee import Member, disagreement
from llmlabel.errors import ConfigError, InputError
from tests.conftest import LabelTickets

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "examples" / "committee" / "task.yaml"
SAMPLES = {"plain": 3, "terse": 2}


def test_two_prompts_and_rules_vote_on_every_row(
    tmp_path: Path, label_tickets: LabelTickets
) -> None:
    rows = label_tickets(TASK, {"t07", "t10", "t12"})
    out = tmp_path / "out.jsonl"
    fired = {"t07": {}, "t10": {"parcel_words": "shipping"}, "t12": {"money_words": "billing"}}
    fired["t12"]["login_rule"] = "account"
    for record_id, row in rows.items():
        committee = row["committee"]
        assert row["status"] in ("labeled", "abstained")
        for name, samples in SAMPLES.items():  # every sample of each prompt is accounted for
            assert sum(committee["votes"][name].values()) + committee["invalid"][name] == samples
        rules = {k: v for k, v in committee["votes"].items() if k not in SAMPLES}
        assert rules == {name: {label: 1} for name, label in fired[record_id].items()}
        assert sorted(committee["abstained"]) == sorted(
            {"money_words", "parcel_words", "login_rule"} - set(fired[record_id])
        )
        assert sum(row["votes"].values()) + len(row["invalid"]) == 5 + len(fired[record_id])
        members = [
            Member(name, votes, committee["invalid"][name], committee["weights"][name])
            for name, votes in committee["votes"].items()
        ]
        found = disagreement(members)
        assert committee["disagreement"] == pytest.approx(found.disagreement, abs=1e-6)
        assert committee["entropy"] == pytest.approx(found.entropy, abs=1e-6)
        assert committee["kl"] == pytest.approx(found.kl, abs=1e-6)
        assert 0.0 <= row["confidence"] <= 1.0
        if row["status"] == "labeled":
            assert row["confidence"] == pytest.approx(found.consensus[row["label"]], abs=1e-6)
    # a rule that disagrees with the prompts makes disagreement; review reads the same number
    assert rows["t12"]["committee"]["disagreement"] > 0
    review = llmlabel.api.review(
        out, tmp_path / "in.jsonl", tmp_path / "rev", task=TASK, budget=3, strategy="committee"
    )
    assert len(review.choice.chosen) == 3 and not review.choice.notes
    for chosen in review.choice.chosen:
        recorded = rows[chosen.id]["committee"]["disagreement"]
        assert chosen.score == pytest.approx(recorded, abs=1e-5)
    provenance = rows["t07"]["provenance"]["committee"]
    assert [m["template"] for m in provenance["members"]] == ["classify.v1", "route.v1"]


def write_task(folder: Path, rules: str, extra: str = "") -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "rules.py").write_text(rules)
    task = folder / "task.yaml"
    task.write_text(
        "name: t\nlabels: [billing, shipping]\nmax_tokens: 24\n"
        "backend: {model: smollm2-135m, parallel: 1}\n"
        "labeling_functions:\n"
        "  - {name: money, label: billing, keywords: [refund]}\n"
        "  - {name: py, python: rules.py:rule}\n" + extra
    )
    return task


def test_rules_alone_join_the_task_prompt_as_member_model(
    tmp_path: Path, smollm2_path: Path
) -> None:
    task = write_task(tmp_path, "def rule(record):\n    return 'shipping'\n")
    [row] = llmlabel.label_records(task, [{"id": "a", "text": "refund me"}], cache=False)
    votes = row["committee"]["votes"]
    assert set(votes) == {"model", "money", "py"}
    assert votes["money"] == {"billing": 1} and votes["py"] == {"shipping": 1}


def test_a_rule_answering_no_label_names_the_record(tmp_path: Path, smollm2_path: Path) -> None:
    task = write_task(tmp_path, "def rule(record):\n    return 'nope'\n")
    with pytest.raises(InputError, match="labeling function 'py' on record 'x' returned 'nope'"):
        llmlabel.label_records(task, [{"id": "x", "text": "hi"}], cache=False)


def test_a_rule_that_breaks_names_the_record(tmp_path: Path, smollm2_path: Path) -> None:
    task = write_task(tmp_path, "def rule(record):\n    return record['missing']\n")
    with pytest.raises(InputError, match="'py' on record 'x': the record has no field 'missing'"):
        llmlabel.label_records(task, [{"id": "x", "text": "hi"}], cache=False)


def test_a_missing_rule_file_is_a_config_error(tmp_path: Path) -> None:
    task = write_task(tmp_path, "")
    (tmp_path / "rules.py").unlink()
    with pytest.raises(ConfigError, match="labeling function file not found"):
        llmlabel.label_records(task, [{"id": "x", "text": "hi"}], cache=False)
