"""`llmlabel export`: every format round-trips, the card tells the story, errors are one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from datasets import ClassLabel, Dataset, DatasetDict, load_from_disk

from tests.test_cli import assert_one_line_error, llmlabel

PROVENANCE = {
    "task": "mood",
    "template": "classify.v1",
    "template_hash": "abc123",
    "backend": "embedded",
    "model": "tiny-model",
    "model_id": "tiny-model",
    "samples": 5,
    "temperature": 0.7,
    "seed": 7,
}
# 12 records: 6 good, 4 bad with confidences 1.0/0.8/0.6, one abstained, one failed.
PLAN = [
    ("good", 1.0),
    ("good", 1.0),
    ("good", 0.8),
    ("good", 0.8),
    ("good", 0.6),
    ("good", 1.0),
    ("bad", 1.0),
    ("bad", 0.8),
    ("bad", 0.6),
    ("bad", 1.0),
    (None, 0.0),
    (None, 0.0),
]


def prediction(i: int, label: str | None, confidence: float) -> dict[str, Any]:
    status = "labeled" if label else ("abstained" if i % 2 == 0 else "failed")
    return {
        "id": f"r{i}",
        "status": status,
        "label": label,
        "confidence": confidence,
        "votes": {label: round(confidence * 5)} if label else {},
        "examples": [],
        "provenance": PROVENANCE,
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    records = [{"id": f"r{i}", "text": f"text number {i}"} for i in range(len(PLAN))]
    records.append({"id": "extra", "text": "an input record that was never labeled"})
    (tmp_path / "task.yaml").write_text(
        "name: mood\nlabels: [good, bad]\nfields: [text]\n"
        "examples:\n  items:\n    - {id: e1, text: lovely, label: good}\n"
    )
    return {
        "predictions": write_jsonl(
            tmp_path / "pred.jsonl", [prediction(i, *p) for i, p in enumerate(PLAN)]
        ),
        "input": write_jsonl(tmp_path / "in.jsonl", records),
        "task": tmp_path / "task.yaml",
        "dir": tmp_path,
    }


def export(files: dict[str, Path], output: Path, *args: str) -> Any:
    return llmlabel(
        "export", str(files["predictions"]), "-i", str(files["input"]), "-o", str(output), *args
    )


def ok(result: Any) -> None:
    assert result.returncode == 0, result.stderr


def test_hf_with_split_is_a_dataset_dict_with_a_class_label(files: dict[str, Path]) -> None:
    out = files["dir"] / "silver"
    ok(export(files, out, "--format", "hf", "--task", str(files["task"]), "--split", "0.3"))
    loaded = load_from_disk(str(out))
    assert isinstance(loaded, DatasetDict) and set(loaded) == {"train", "validation"}
    feature = loaded["train"].features["label"]
    assert isinstance(feature, ClassLabel) and feature.names == ["good", "bad"]
    rows = [row for split in loaded.values() for row in split]
    assert len(rows) == 10 and len(loaded["validation"]) == 3
    for row in rows:
        assert row["text"] == f"text number {row['id'][1:]}"
        assert feature.int2str(row["label"]) == PLAN[int(row["id"][1:])][0]
    assert (out / "README.md").is_file()


def test_hf_without_split_is_one_dataset_with_sorted_labels(files: dict[str, Path]) -> None:
    out = files["dir"] / "silver"
    ok(export(files, out, "--min-confidence", "0.8"))
    loaded = load_from_disk(str(out))
    assert isinstance(loaded, Dataset) and len(loaded) == 8
    assert loaded.features["label"].names == ["bad", "good"]
    assert set(loaded.column_names) == {"id", "text", "label", "confidence"}


def test_hf_without_task_takes_the_label_list_from_the_run_manifest(
    files: dict[str, Path],
) -> None:
    """Label ids must not depend on which labels a run happened to predict: the manifest
    beside the predictions names the task's labels, in order (one never predicted here)."""
    labels = [{"name": name} for name in ("good", "meh", "bad")]
    manifest = files["dir"] / "pred.manifest.json"
    manifest.write_text(json.dumps({"status": "completed", "task": {"labels": labels}}))
    out = files["dir"] / "silver"
    ok(export(files, out))
    assert load_from_disk(str(out)).features["label"].names == ["good", "meh", "bad"]


def test_parquet_round_trips_with_its_card_beside(files: dict[str, Path]) -> None:
    out = files["dir"] / "silver.parquet"
    ok(export(files, out, "--format", "parquet"))
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == [f"r{i}" for i in range(10)]
    assert rows[6] == {"id": "r6", "text": "text number 6", "label": "bad", "confidence": 1.0}
    assert (files["dir"] / "silver.card.md").is_file()


def test_jsonl_and_csv_splits_are_files_in_a_folder(files: dict[str, Path]) -> None:
    for fmt in ("jsonl", "csv"):
        out = files["dir"] / fmt
        ok(export(files, out, "--format", fmt, "--split", "0.2", "--seed", "3"))
        assert sorted(p.name for p in out.iterdir()) == [
            "README.md",
            f"train.{fmt}",
            f"validation.{fmt}",
        ]
    validation = (files["dir"] / "jsonl/validation.jsonl").read_text().splitlines()
    jsonl = [json.loads(line) for line in validation]
    with (files["dir"] / "csv/validation.csv").open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["id"] for r in table] == [r["id"] for r in jsonl] and len(table) == 2
    assert {r["label"] for r in jsonl} == {"good", "bad"}  # stratified: one of each


def test_same_seed_same_split_other_seed_other_split(files: dict[str, Path]) -> None:
    def validation(name: str, seed: str) -> str:
        out = files["dir"] / name
        ok(export(files, out, "--format", "jsonl", "--split", "0.5", "--seed", seed))
        return (out / "validation.jsonl").read_text()

    first = validation("a", "1")
    assert validation("b", "1") == first
    assert any(validation(f"c{s}", s) != first for s in ("2", "3", "4"))


def test_sft_rows_are_chat_turns_ending_with_the_answer(files: dict[str, Path]) -> None:
    out = files["dir"] / "sft.jsonl"
    ok(export(files, out, "--format", "sft", "--task", str(files["task"]), "--balance"))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8  # 4 good, 4 bad
    for row in rows:
        assert list(row) == ["messages"]
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["system", "user", "assistant", "user", "assistant"]
        assert row["messages"][1]["content"] == "lovely"  # the few-shot example
        assert row["messages"][3]["content"].startswith("text number ")
        assert json.loads(row["messages"][-1]["content"])["label"] in ("good", "bad")
    labels = [json.loads(r["messages"][-1]["content"])["label"] for r in rows]
    assert labels.count("good") == labels.count("bad") == 4
    card = (files["dir"] / "sft.card.md").read_text()
    assert "not the one the labels were made with" in card  # fixture hash is not the real one


def test_card_has_provenance_filters_distribution_and_histogram(files: dict[str, Path]) -> None:
    out = files["dir"] / "silver.jsonl"
    ok(export(files, out, "--format", "jsonl", "--min-confidence", "0.8", "--per-class-max", "3"))
    card = (files["dir"] / "silver.card.md").read_text()
    for needle in (
        "# mood: silver labels",
        "| 12 | mood | classify.v1 | abc123 | embedded | tiny-model | tiny-model | 5 | 0.7 | 7 |",
        "| abstained or failed | 2 | 10 |",
        "| confidence < 0.8 | 2 | 8 |",
        "| over 3 per class | 2 | 6 |",
        "| good | 3 | 50.0% |",
        "| bad | 3 | 50.0% |",
        "[0.6, 0.7)          2         0",
        "[0.9, 1.0]          5         ",
        "1 input record(s) have no prediction",
        'load_dataset("json", data_files="silver.jsonl")',
    ):
        assert needle in card, needle
    assert len([line for line in card.splitlines() if line.startswith("[")]) == 10


def test_keep_abstained_exports_them_without_a_label(files: dict[str, Path]) -> None:
    out = files["dir"] / "all.jsonl"
    ok(export(files, out, "--format", "jsonl", "--keep-abstained"))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12 and [r["label"] for r in rows[-2:]] == [None, None]
    card = (files["dir"] / "all.card.md").read_text()
    assert "| (no label: abstained or failed) | 2 | 16.7% |" in card


def test_overwrite_replaces_an_earlier_export(files: dict[str, Path]) -> None:
    out = files["dir"] / "silver"
    ok(export(files, out, "--format", "jsonl", "--split", "0.5"))
    assert_one_line_error(export(files, out, "--format", "jsonl"), "output exists", "--overwrite")
    ok(export(files, out, "--format", "hf", "--overwrite"))
    assert isinstance(load_from_disk(str(out)), Dataset)
    assert not (out / "train.jsonl").exists()


def test_refuses_to_overwrite_a_folder_it_did_not_write(files: dict[str, Path]) -> None:
    out = files["dir"] / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    result = export(files, out, "--overwrite")
    assert_one_line_error(result, "did not write", "mine")
    assert (out / "thesis.tex").read_text() == "precious"


def test_prediction_missing_from_the_input_names_it(files: dict[str, Path]) -> None:
    write_jsonl(files["input"], [{"id": "r0", "text": "only one"}])
    result = export(files, files["dir"] / "o.jsonl", "--format", "jsonl")
    assert_one_line_error(result, "pred.jsonl:2", "prediction 'r1' has no record", "--input")
    assert not (files["dir"] / "o.jsonl").exists()
    assert [p.name for p in files["dir"].iterdir() if p.name.startswith(".")] == []


def test_nothing_left_after_filtering(files: dict[str, Path]) -> None:
    write_jsonl(files["predictions"], [prediction(0, "good", 0.6), prediction(1, "bad", 0.6)])
    result = export(files, files["dir"] / "o.jsonl", "--format", "jsonl", "--min-confidence", "0.9")
    assert_one_line_error(result, "no records left", "confidence < 0.9: 2", "hint:")


def test_a_split_that_leaves_validation_empty(files: dict[str, Path]) -> None:
    write_jsonl(files["predictions"], [prediction(0, "good", 1.0), prediction(1, "bad", 1.0)])
    result = export(files, files["dir"] / "o", "--split", "0.1")
    assert_one_line_error(result, "leaves validation empty", "--split")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--format", "sft"], ["--format sft needs --task"]),
        (["--format", "xml"], ["unknown export format 'xml'", "parquet"]),
        (["--format", "sft", "--task", "TASK", "--keep-abstained"], ["needs a label"]),
        (["--split", "1.5"], ["--split", "1.5"]),
        (["--min-confidence", "-1"], ["--min-confidence"]),
        (["--task", "nope.yaml"], ["nope.yaml", "not found"]),
    ],
)
def test_bad_options_are_one_line(
    files: dict[str, Path], args: list[str], needles: list[str]
) -> None:
    args = [str(files["task"]) if a == "TASK" else a for a in args]
    assert_one_line_error(export(files, files["dir"] / "o", *args), *needles)


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ({"id": "r0", "status": "labeled", "label": None, "confidence": 1}, "no string 'label'"),
        ({"id": "r0", "status": "done", "label": "good", "confidence": 1}, "status: Input"),
        ({"text": "no id"}, "id: missing"),
        ({"id": "r0", "status": "labeled", "label": ["a"], "confidence": 1}, "multi_label pre"),
        ({"id": "r0", "status": "labeled", "label": {"a": 1}, "confidence": 1}, "extraction pre"),
    ],
)
def test_bad_prediction_rows_name_the_line(
    files: dict[str, Path], row: dict[str, Any], needle: str
) -> None:
    write_jsonl(files["predictions"], [prediction(1, "good", 1.0), row])
    result = export(files, files["dir"] / "o.jsonl", "--format", "jsonl")
    assert_one_line_error(result, "pred.jsonl:2", needle)


def test_labels_outside_the_task_and_duplicate_ids(files: dict[str, Path]) -> None:
    write_jsonl(files["predictions"], [prediction(0, "meh", 1.0)])
    result = export(files, files["dir"] / "o", "--task", str(files["task"]))
    assert_one_line_error(result, "pred.jsonl:1", "label 'meh' is not a label of task 'mood'")
    write_jsonl(files["predictions"], [prediction(0, "good", 1.0), prediction(0, "bad", 1.0)])
    result = export(files, files["dir"] / "o")
    assert_one_line_error(result, "pred.jsonl:2", "appears twice")


def test_a_column_with_mixed_types_is_named(files: dict[str, Path]) -> None:
    records = [{"id": f"r{i}", "text": "t", "stars": 5 if i else "five"} for i in range(12)]
    write_jsonl(files["input"], records)
    result = export(files, files["dir"] / "o.parquet", "--format", "parquet")
    assert_one_line_error(result, "o.parquet", "column 'stars'", "jsonl or csv")
    ok(export(files, files["dir"] / "o.jsonl", "--format", "jsonl"))


def test_a_multi_label_task_is_refused(files: dict[str, Path]) -> None:
    task = files["dir"] / "multi.yaml"
    task.write_text("name: tags\nkind: multi_label\nlabels: [a, b]\n")
    result = export(files, files["dir"] / "o", "--task", str(task))
    assert_one_line_error(result, "multi.yaml", "classification, relation and ner tasks")
