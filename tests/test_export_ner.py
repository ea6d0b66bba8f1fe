"""`llmlabel export` of NER predictions: char spans, tokens + BIO tags, filters and the card."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datasets import ClassLabel, Dataset, DatasetDict, List, load_from_disk

from tests.test_cli import assert_one_line_error, llmlabel

NER = Path(__file__).resolve().parent.parent / "examples" / "ner"
PREDICTIONS, INPUT, TASK = NER / "predictions.sample.jsonl", NER / "news.jsonl", NER / "task.yaml"
TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    return path


def export(predictions: Path, input: Path, output: Path, *args: str) -> Any:
    return llmlabel("export", str(predictions), "-i", str(input), "-o", str(output), *args)


def ok(result: Any) -> None:
    assert result.returncode == 0, result.stderr


def spans(label: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: e[k] for k in ("start", "end", "label", "text")} for e in label]


def test_hf_export_has_entities_tokens_and_class_label_tags(tmp_path: Path) -> None:
    out = tmp_path / "silver"
    ok(export(PREDICTIONS, INPUT, out, "--task", str(TASK), "--split", "0.25"))
    loaded = load_from_disk(str(out))
    assert isinstance(loaded, DatasetDict) and [len(p) for p in loaded.values()] == [6, 2]
    features = loaded["train"].features
    assert features == loaded["validation"].features
    assert features["ner_tags"] == List(ClassLabel(names=TAGS))
    assert set(features["entities"].feature) == {"start", "end", "label", "text"}
    predicted = {r["id"]: r for r in rows(PREDICTIONS)}
    tokens = {r["id"]: r["tokens"] for r in rows(INPUT)}
    for row in (r for part in loaded.values() for r in part):
        assert row["entities"] == spans(predicted[row["id"]]["label"])
        assert row["tokens"] == tokens[row["id"]]
        tags = [TAGS[t] for t in row["ner_tags"]]
        assert tags == predicted[row["id"]]["tags"]  # the run's own BIO tags
    card = (out / "README.md").read_text()
    assert "## Entity-type distribution" in card and "| LOC | 9 | 2 | 11 |" in card


def test_min_confidence_filters_on_the_record_confidence(tmp_path: Path) -> None:
    out = tmp_path / "silver.jsonl"
    ok(export(PREDICTIONS, INPUT, out, "--format", "jsonl", "--min-confidence", "0.8"))
    exported = rows(out)
    weak = {r["id"] for r in rows(PREDICTIONS) if r["confidence"] < 0.8}
    assert weak == {"n03", "n08"} and {r["id"] for r in exported}.isdisjoint(weak)
    assert len(exported) == 6
    n05 = next(r for r in exported if r["id"] == "n05")  # no entities: all O
    assert n05["entities"] == [] and set(n05["ner_tags"]) == {"O"}
    assert "| confidence < 0.8 | 2 | 6 |" in out.with_suffix(".card.md").read_text()


def test_records_without_tokens_are_tokenized(tmp_path: Path) -> None:
    input = write_jsonl(
        tmp_path / "in.jsonl", [{"id": r["id"], "text": r["text"]} for r in rows(INPUT)]
    )
    out = tmp_path / "silver.parquet"
    ok(export(PREDICTIONS, input, out, "--format", "parquet"))
    table = pq.read_table(out).to_pylist()
    n01 = next(r for r in table if r["id"] == "n01")
    assert n01["tokens"][-2:] == ["Monday", "."]  # "Monday." split by the tokenizer
    assert n01["ner_tags"][:3] == ["B-PER", "I-PER", "O"]
    assert "8 of 8 record(s) had no `tokens`" in out.with_suffix(".card.md").read_text()


def test_csv_holds_entities_as_json(tmp_path: Path) -> None:
    out = tmp_path / "silver.csv"
    ok(export(PREDICTIONS, INPUT, out, "--format", "csv"))
    with out.open() as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["id", "text", "tokens", "entities", "ner_tags", "confidence"]
    predicted = {r["id"]: r for r in rows(PREDICTIONS)}
    for row in table:
        assert json.loads(row["entities"]) == spans(predicted[row["id"]]["label"])


def test_sft_answer_is_the_json_the_model_is_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    ok(export(PREDICTIONS, INPUT, out, "--task", str(TASK), "--format", "sft"))
    first = rows(out)[0]["messages"]
    assert first[-2]["role"] == "user" and "Angela Merkel" in first[-2]["content"]
    assert json.loads(first[-1]["content"]) == {
        "entities": [
            {"text": "Angela Merkel", "label": "PER"},
            {"text": "Emmanuel Macron", "label": "PER"},
            {"text": "Paris", "label": "LOC"},
        ]
    }


def test_a_split_with_no_entities_has_the_same_schema(tmp_path: Path) -> None:
    records = [{"id": f"r{i}", "text": f"Paris in spring {i}"} for i in range(4)]
    entity = {"start": 0, "end": 5, "label": "LOC", "text": "Paris", "confidence": 1.0}
    ner = {"provenance": {"kind": "ner"}}  # what tells an empty NER answer from other kinds
    predictions = [
        {"id": f"r{i}", "status": "labeled", "label": [entity] if i < 2 else [], "confidence": 1.0}
        | ner
        for i in range(4)
    ]
    predictions.append({"id": "r4", "status": "abstained", "label": None, "confidence": 0.0})
    records.append({"id": "r4", "text": "nothing"})
    pred = write_jsonl(tmp_path / "pred.jsonl", predictions)
    input = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "silver"
    ok(export(pred, input, out, "--keep-abstained"))
    loaded = load_from_disk(str(out))
    assert isinstance(loaded, Dataset) and loaded.features["ner_tags"] == List(
        ClassLabel(names=["O", "B-LOC", "I-LOC"])
    )
    assert loaded[4]["entities"] is None and loaded[4]["ner_tags"] is None
    only_empty = write_jsonl(tmp_path / "empty.jsonl", predictions[2:4])
    ok(export(only_empty, input, tmp_path / "empty.parquet", "--format", "parquet"))
    schema = pq.read_schema(tmp_path / "empty.parquet")
    assert str(schema.field("entities").type).startswith("list<element: struct<start: int64")


def test_ner_refusals_are_one_line(tmp_path: Path) -> None:
    result = export(PREDICTIONS, INPUT, tmp_path / "o", "--per-class-max", "3")
    assert_one_line_error(result, "--per-class-max and --balance need a class per record")
    moved = rows(PREDICTIONS)
    moved[0]["label"][0]["start"] += 1
    pred = write_jsonl(tmp_path / "pred.jsonl", moved)
    result = export(pred, INPUT, tmp_path / "o")
    assert_one_line_error(result, "news.jsonl", "prediction 'n01'", "is not at 1:13")
    mixed = [*rows(PREDICTIONS)[:2], {"id": "x", "status": "labeled", "label": "PER"}]
    result = export(write_jsonl(tmp_path / "mixed.jsonl", mixed), INPUT, tmp_path / "o")
    assert_one_line_error(result, "mixed.jsonl:3", "classification prediction", "others are ner")
    unknown = rows(PREDICTIONS)
    unknown[0]["label"][0]["label"] = "PERSON"
    pred = write_jsonl(tmp_path / "unknown.jsonl", unknown)
    result = export(pred, INPUT, tmp_path / "o", "--task", str(TASK))
    assert_one_line_error(result, "unknown.jsonl:1", "entity type 'PERSON'")
    bad_tokens = [{**r, "tokens": ["nope"]} for r in rows(INPUT)]
    result = export(PREDICTIONS, write_jsonl(tmp_path / "in.jsonl", bad_tokens), tmp_path / "o")
    assert_one_line_error(result, "in.jsonl:1", "'tokens' are not found")


def test_relation_predictions_export_as_classes(tmp_path: Path) -> None:
    """Other kinds keep their accurate refusal; relations (a class per record) export."""
    relation = {"provenance": {"kind": "relation"}}
    pred = write_jsonl(
        tmp_path / "pred.jsonl",
        [{"id": "s1", "status": "labeled", "label": "works_for", "confidence": 1.0} | relation],
    )
    input = write_jsonl(tmp_path / "in.jsonl", [{"id": "s1", "text": "Ann works for Acme."}])
    ok(export(pred, input, tmp_path / "out.jsonl", "--format", "jsonl"))
    assert rows(tmp_path / "out.jsonl")[0]["label"] == "works_for"
    summary = {"provenance": {"kind": "free_text"}}
    pred = write_jsonl(
        tmp_path / "text.jsonl",
        [{"id": "s1", "status": "labeled", "label": "A summary.", "confidence": 1.0} | summary],
    )
    result = export(pred, input, tmp_path / "o.jsonl", "--format", "jsonl")
    assert_one_line_error(
        result,
        "text.jsonl:1",
        "free_text predictions cannot be used here: this command handles classification, "
        "relation and ner predictions",
    )
