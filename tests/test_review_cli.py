"""`llmlabel review` and `llmlabel merge`: what is chosen, what is written, what comes back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import llmlabel.api as api
from llmlabel.errors import ConfigError, InputError, OutputError
from tests.test_cli import assert_one_line_error, llmlabel

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT = ROOT / "examples" / "sentiment"
TICKETS = ROOT / "examples" / "tickets"
PREDICTIONS = SENTIMENT / "predictions.sample.jsonl"
TASK = SENTIMENT / "task.yaml"
INPUT = SENTIMENT / "reviews.jsonl"


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sample() -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows(PREDICTIONS)}


@pytest.mark.parametrize("command", ["review", "merge"])
def test_help(command: str) -> None:
    result = llmlabel(command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_review_sends_the_least_confident_records_to_label_studio(tmp_path: Path) -> None:
    result = api.review(PREDICTIONS, INPUT, tmp_path / "out", task=TASK, budget=5)
    predictions = sample()
    confidences = sorted(r["confidence"] for r in predictions.values())
    chosen = [c.id for c in result.choice.chosen]
    assert [predictions[i]["confidence"] for i in chosen] == confidences[:5]
    tasks = json.loads((tmp_path / "out" / "tasks.json").read_text())
    assert [t["data"]["llmlabel_id"] for t in tasks] == chosen
    texts = {r["id"]: r["text"] for r in rows(INPUT)}
    for task in tasks:
        row = predictions[task["data"]["llmlabel_id"]]
        assert task["data"]["text"] == texts[row["id"]]
        if row["status"] == "labeled":
            (prediction,) = task["predictions"]
            assert prediction["result"][0]["value"] == {"choices": [row["label"]]}
            assert prediction["score"] == row["confidence"]
        else:
            assert task["predictions"] == []
    assert '<Choice value="negative"' in (tmp_path / "out" / "config.xml").read_text()
    selection = rows(tmp_path / "out" / "selection.jsonl")
    assert [s["id"] for s in selection] == chosen


def test_random_review_is_seeded(tmp_path: Path) -> None:
    def chosen(seed: int, name: str) -> list[str]:
        result = api.review(
            PREDICTIONS, INPUT, tmp_path / name, task=TASK, budget=5, strategy="random", seed=seed
        )
        return [c.id for c in result.choice.chosen]

    assert chosen(1, "a") == chosen(1, "b") != chosen(2, "c")


def test_review_output_is_never_silently_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [str(PREDICTIONS), "-i", str(INPUT), "--task", str(TASK), "--budget", "3"]
    assert llmlabel("review", *args, "-o", str(out)).returncode == 0
    assert_one_line_error(llmlabel("review", *args, "-o", str(out)), "output exists", "--force")
    result = llmlabel("review", *args, "-o", str(out), "--force", "-f", "argilla")
    assert result.returncode == 0, result.stderr
    assert (out / "records.json").exists() and not (out / "tasks.json").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="did not write"):
        api.review(PREDICTIONS, INPUT, foreign, task=TASK, budget=3, force=True)
    assert (foreign / "notes.txt").exists()


def test_review_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    args = [str(PREDICTIONS), "-i", str(INPUT), "--task", str(TASK), "-o", str(tmp_path / "o")]
    result = llmlabel("review", *args, "--budget", "3", "--strategy", "loudest")
    assert_one_line_error(result, "unknown strategy 'loudest'", "least_confidence")
    assert result.returncode == 2
    with pytest.raises(ConfigError, match="unknown review format"):
        api.review(PREDICTIONS, INPUT, tmp_path / "o", task=TASK, budget=3, format="prodigy")
    with pytest.raises(InputError, match="no record in"):
        api.review(PREDICTIONS, TICKETS / "tickets.jsonl", tmp_path / "o", task=TASK, budget=3)


def test_review_rejects_predictions_of_another_task(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.jsonl"
    row = {**sample()["r01"], "label": "neutral"}
    wrong.write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError, match=r"wrong.jsonl:1: label 'neutral' is not a label"):
        api.review(wrong, INPUT, tmp_path / "o", task=TASK, budget=1)


def test_merge_overrides_labels_and_reports_agreement(tmp_path: Path) -> None:
    predictions = sample()
    flips = {"r05": "negative", "r11": "negative", "r27": "positive"}  # r27 abstained
    corrections = tmp_path / "fixes.jsonl"
    corrections.write_text(
        "".join(json.dumps({"id": i, "label": v}) + "\n" for i, v in flips.items())
    )
    result = api.merge(PREDICTIONS, corrections, tmp_path / "merged.jsonl", task=TASK)
    merged = {r["id"]: r for r in rows(tmp_path / "merged.jsonl")}
    assert list(merged) == list(predictions)
    for record_id, row in merged.items():
        if record_id in flips:
            assert row["source"] == "human" and row["label"] == flips[record_id]
            assert row["status"] == "labeled" and row["confidence"] == 1.0
            assert row["model"]["label"] == predictions[record_id]["label"]
        else:
            assert row == {**predictions[record_id], "source": "model"}
    # r05 positive→negative (changed), r11 negative→negative (kept), r27 had no model label
    assert (result.corrected, result.changed) == (3, 2)
    assert result.agreement.records == 2 and result.agreement.model_unlabeled == 1
    assert result.agreement.accuracy == pytest.approx(0.5)


def test_merge_output_and_inputs_are_checked(tmp_path: Path) -> None:
    fixes = tmp_path / "fixes.jsonl"
    fixes.write_text(json.dumps({"id": "r01", "label": "negative"}) + "\n")
    out = tmp_path / "merged.jsonl"
    api.merge(PREDICTIONS, fixes, out, task=TASK)
    args = [str(PREDICTIONS), "--corrections", str(fixes), "--task", str(TASK), "-o", str(out)]
    assert_one_line_error(llmlabel("merge", *args), "output exists", "--force")
    assert llmlabel("merge", *args, "--force").returncode == 0
    with pytest.raises(ConfigError, match="would replace PREDICTIONS"):
        api.merge(PREDICTIONS, fixes, PREDICTIONS, task=TASK, force=True)
    fixes.write_text(json.dumps({"id": "nope", "label": "negative"}) + "\n")
    with pytest.raises(InputError, match="'nope' has no prediction"):
        api.merge(PREDICTIONS, fixes, tmp_path / "m2.jsonl", task=TASK)
    fixes.write_text(json.dumps({"id": "r01", "label": "meh"}) + "\n")
    with pytest.raises(InputError, match=r"fixes.jsonl:1: 'meh' is not a label"):
        api.merge(PREDICTIONS, fixes, tmp_path / "m3.jsonl", task=TASK)
    assert not (tmp_path / "m2.jsonl").exists() and not (tmp_path / "m3.jsonl").exists()


def test_append_examples_grows_the_pool_once(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    shutil.copy(SENTIMENT / "examples.jsonl", pool)
    before = rows(pool)
    fixes = tmp_path / "fixes.jsonl"
    fixes.write_text(
        json.dumps({"id": "r05", "label": "negative", "text": "Worth every penny?"}) + "\n"
    )
    first = api.merge(PREDICTIONS, fixes, tmp_path / "m1.jsonl", task=TASK, append_examples=pool)
    again = api.merge(PREDICTIONS, fixes, tmp_path / "m2.jsonl", task=TASK, append_examples=pool)
    assert (first.appended, again.appended) == (1, 0)
    assert rows(pool) == [*before, {"id": "r05", "text": "Worth every penny?", "label": "negative"}]
    fixes.write_text(json.dumps({"id": "r06", "label": "negative"}) + "\n")
    with pytest.raises(InputError, match="does not carry the field 'text'"):
        api.merge(PREDICTIONS, fixes, tmp_path / "m3.jsonl", task=TASK, append_examples=pool)


def test_multi_label_round_trip_on_the_small_model(tmp_path: Path, smollm2_path: Path) -> None:
    """Label tickets with SmolLM2, send them to Argilla, merge a reviewer's answers back."""
    labeled = tmp_path / "tickets.labeled.jsonl"
    api.label(
        TICKETS / "task.yaml",
        TICKETS / "tickets.jsonl",
        labeled,
        limit=4,
        cache=False,
        overrides={"backend.model": str(smollm2_path), "samples": 3},
    )
    result = api.review(
        labeled,
        TICKETS / "tickets.jsonl",
        tmp_path / "argilla",
        task=TICKETS / "task.yaml",
        budget=3,
        strategy="entropy",
        format="argilla",
    )
    records = json.loads((tmp_path / "argilla" / "records.json").read_text())
    assert [r["id"] for r in records] == [c.id for c in result.choice.chosen]
    settings = json.loads((tmp_path / "argilla" / ".argilla" / "settings.json").read_text())
    assert settings["questions"][0]["settings"]["type"] == "multi_label_selection"
    gold = {r["id"]: r["labels"] for r in rows(TICKETS / "tickets.gold.jsonl")}
    for record in records:  # the reviewer answers with the gold labels
        record["responses"] = {"labels": [{"value": gold[record["id"]], "user_id": "u1"}]}
    (tmp_path / "reviewed.json").write_text(json.dumps(records))
    merged = api.merge(
        labeled, tmp_path / "reviewed.json", tmp_path / "merged.jsonl", task=TICKETS / "task.yaml"
    )
    assert merged.corrected == 3 and merged.rows == 4
    human = [r for r in rows(tmp_path / "merged.jsonl") if r["source"] == "human"]
    assert {r["id"]: sorted(r["label"]) for r in human} == {
        r["id"]: sorted(gold[r["id"]]) for r in records
    }
    a = merged.agreement  # SmolLM2 may abstain: those rows are counted, not scored
    assert a.records + a.model_unlabeled == 3
    if a.records:
        assert set(a.per_class) >= {"billing", "shipping", "product", "account", "refund"}
