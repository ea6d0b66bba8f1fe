"""`llmlabel review` / `merge` on NER predictions: Label Studio tasks out, corrected spans in."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.test_cli import assert_one_line_error, llmlabel

NER = Path(__file__).resolve().parent.parent / "examples" / "ner"
PREDICTIONS, INPUT, TASK = NER / "predictions.sample.jsonl", NER / "news.jsonl", NER / "task.yaml"


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return result


def review(out: Path, *args: str) -> Any:
    return llmlabel(
        "review", str(PREDICTIONS), "-i", str(INPUT), "--task", str(TASK), "-o", str(out), *args
    )


def merge(corrections: Path, out: Path, *args: str) -> Any:
    return llmlabel(
        "merge", str(PREDICTIONS), "--corrections", str(corrections), "--task", str(TASK),
        "-o", str(out), *args,
    )  # fmt: skip


def region(start: int, end: int, text: str, label: str) -> dict[str, Any]:
    return {
        "from_name": "entities",
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": end, "text": text, "labels": [label]},
    }


def test_review_writes_label_studio_tasks_with_scored_regions(tmp_path: Path) -> None:
    ok(review(tmp_path / "out", "--budget", "3"))
    tasks = json.loads((tmp_path / "out" / "tasks.json").read_text())
    # least confidence: the two 0.6 records first, then file order
    assert [t["data"]["llmlabel_id"] for t in tasks] == ["n03", "n08", "n01"]
    predicted = {r["id"]: r for r in rows(PREDICTIONS)}
    texts = {r["id"]: r for r in rows(INPUT)}
    for task in tasks:
        row = predicted[task["data"]["llmlabel_id"]]
        assert task["data"]["text"] == texts[row["id"]]["text"]
        assert task["data"]["tokens"] == texts[row["id"]]["tokens"]
        (prediction,) = task["predictions"]
        assert prediction["score"] == row["confidence"]
        assert [
            (r["type"], r["from_name"], r["to_name"], r["value"], r["score"])
            for r in prediction["result"]
        ] == [
            (
                "labels",
                "entities",
                "text",
                {"start": e["start"], "end": e["end"], "text": e["text"], "labels": [e["label"]]},
                e["confidence"],
            )
            for e in row["label"]
        ]
    config = ET.fromstring((tmp_path / "out" / "config.xml").read_text())
    labels = config.find("Labels")
    assert labels is not None and labels.get("toName") == "text"
    assert [e.get("value") for e in labels] == ["PER", "ORG", "LOC", "MISC"]


def test_review_writes_an_argilla_handoff_with_span_suggestions(tmp_path: Path) -> None:
    ok(review(tmp_path / "out", "--budget", "2", "--format", "argilla"))
    records = json.loads((tmp_path / "out" / "records.json").read_text())
    assert [r["id"] for r in records] == ["n03", "n08"]
    assert records[0]["suggestions"]["entities"] == {
        "value": [
            {"start": 41, "end": 48, "label": "LOC"},
            {"start": 52, "end": 59, "label": "LOC"},
        ],
        "score": [0.6, 0.6],
        "agent": "ner.v1",
    }
    settings = json.loads((tmp_path / "out" / ".argilla" / "settings.json").read_text())
    assert settings["questions"][0]["type"] == "span"


def fabricated_export(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Label Studio exports after review: n03 gets the missed "Kenya", n08's "Italian"
    becomes MISC, n01 is accepted as predicted; a fourth task is cancelled."""
    by_id = {t["data"]["llmlabel_id"]: t for t in tasks}
    answers = {
        "n03": [
            region(31, 36, "Kenya", "LOC"),
            region(41, 48, "Nigeria", "LOC"),
            region(52, 59, "Nairobi", "LOC"),
        ],
        "n08": [region(0, 7, "Italian", "MISC"), region(37, 42, "Milan", "LOC")],
        "n01": by_id["n01"]["predictions"][0]["result"],
    }
    exported = []
    for n, task in enumerate(tasks, start=1):
        record_id = task["data"]["llmlabel_id"]
        annotation = (
            {"id": n, "result": answers[record_id], "completed_by": {"email": "ann@example.org"}}
            if record_id in answers
            else {"id": n, "result": [], "was_cancelled": True}
        )
        exported.append({"id": n, **task, "annotations": [annotation]})
    return exported


def test_merge_puts_the_reviewers_spans_in_and_reports_span_agreement(tmp_path: Path) -> None:
    ok(review(tmp_path / "out", "--budget", "4"))
    tasks = json.loads((tmp_path / "out" / "tasks.json").read_text())
    assert len(tasks) == 4
    export = tmp_path / "export.json"
    export.write_text(json.dumps(fabricated_export(tasks)))
    pool = tmp_path / "pool.jsonl"
    pool.write_text((NER / "examples.jsonl").read_text())
    result = ok(merge(export, tmp_path / "merged.jsonl", "--append-examples", str(pool)))
    # model spans 7, reviewer spans 8, both 6 (n03 missed Kenya, n08 typed Italian LOC)
    assert "span precision 0.857 · recall 0.750 · F1 0.800" in result.stdout
    assert "records left as they were 0.333" in result.stdout
    assert "merged 8 rows: 3 by reviewers (2 changed)" in result.stdout
    merged = {r["id"]: r for r in rows(tmp_path / "merged.jsonl")}
    assert [i for i, r in merged.items() if r["source"] == "human"] == ["n01", "n03", "n08"]
    n03 = merged["n03"]
    assert [(e["text"], e["label"], e["confidence"]) for e in n03["label"]] == [
        ("Kenya", "LOC", 1.0),
        ("Nigeria", "LOC", 1.0),
        ("Nairobi", "LOC", 1.0),
    ]
    assert n03["tags"] == ["O", "O", "O", "O", "O", "B-LOC", "O", "B-LOC", "O", "B-LOC", "O"]
    assert n03["confidence"] == 1.0 and n03["reviewer"] == "label-studio:ann@example.org"
    assert n03["model"]["confidence"] == 0.6 and len(n03["model"]["label"]) == 2
    assert n03["label_confidence"] == {
        "31:36 LOC Kenya": 1.0,
        "41:48 LOC Nigeria": 1.0,
        "52:59 LOC Nairobi": 1.0,
    }
    assert merged["n08"]["tags"][0] == "B-MISC"
    assert merged["n02"]["source"] == "model"
    added = rows(pool)[3:]
    assert [a["id"] for a in added] == ["n03", "n08", "n01"]  # in the export's order
    assert added[0]["entities"][0] == {"text": "Kenya", "label": "LOC"}  # few-shot shape

    # The merged file exports: the corrected spans are the silver set's
    silver_file = tmp_path / "silver.jsonl"
    ok(
        llmlabel(
            "export",
            str(tmp_path / "merged.jsonl"),
            "-i",
            str(INPUT),
            "-o",
            str(silver_file),
            "--format",
            "jsonl",
        )
    )
    silver = {r["id"]: r for r in rows(silver_file)}
    assert silver["n03"]["ner_tags"] == n03["tags"]


def test_jsonl_corrections_and_their_errors(tmp_path: Path) -> None:
    kenya = {"start": 31, "end": 36, "label": "LOC", "text": "Kenya"}
    corrections = tmp_path / "fix.jsonl"
    corrections.write_text(json.dumps({"id": "n03", "entities": [kenya]}) + "\n")
    out = tmp_path / "merged.jsonl"
    result = ok(merge(corrections, out))
    assert "lost their BIO 'tags'" in result.stdout  # no tokens in the correction
    n03 = next(r for r in rows(out) if r["id"] == "n03")
    assert n03["label"] == [{**kenya, "confidence": 1.0}] and n03["tags"] is None
    corrections.write_text(
        json.dumps({"id": "n03", "entities": [{**kenya, "label": "CITY"}]}) + "\n"
    )
    result = llmlabel(
        "merge", str(PREDICTIONS), "--corrections", str(corrections), "--task", str(TASK),
        "-o", str(out), "--force",
    )  # fmt: skip
    assert_one_line_error(result, "fix.jsonl:1", "entity type 'CITY'")


def test_ner_round_trip_on_the_small_model(tmp_path: Path, smollm2_path: Path) -> None:
    """Label news with SmolLM2, export the silver spans, review them, merge gold spans back."""
    import llmlabel.api as api

    labeled = tmp_path / "news.labeled.jsonl"
    api.label(
        TASK,
        INPUT,
        labeled,
        limit=2,
        cache=False,
        overrides={"backend.model": str(smollm2_path), "samples": 3, "max_tokens": 96},
    )
    exported = api.export(labeled, INPUT, tmp_path / "silver.jsonl", format="jsonl", task=TASK)
    silver = rows(tmp_path / "silver.jsonl")
    predicted = {r["id"]: r for r in rows(labeled)}
    assert len(silver) == len(exported.selection.kept)
    for row in silver:  # the run's spans and BIO tags, as exported
        assert row["entities"] == spans_of(predicted[row["id"]]["label"])
        assert row["ner_tags"] == predicted[row["id"]]["tags"]
    result = api.review(labeled, INPUT, tmp_path / "ls", task=TASK, budget=2, strategy="entropy")
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    assert [t["data"]["llmlabel_id"] for t in tasks] == [c.id for c in result.choice.chosen]
    gold = {r["id"]: r["entities"] for r in rows(NER / "news.gold.jsonl")}
    for n, task in enumerate(tasks, start=1):  # the reviewer marks the gold spans
        marked = [
            region(e["start"], e["end"], e["text"], e["label"])
            for e in gold[task["data"]["llmlabel_id"]]
        ]
        task.update(id=n, annotations=[{"id": n, "result": marked, "completed_by": 1}])
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    merged = api.merge(labeled, tmp_path / "export.json", tmp_path / "merged.jsonl", task=TASK)
    assert merged.corrected == 2 and merged.rows == 2
    human = {r["id"]: r for r in rows(tmp_path / "merged.jsonl") if r["source"] == "human"}
    assert {i: spans_of(r["label"]) for i, r in human.items()} == {i: gold[i] for i in human}
    a = merged.agreement  # SmolLM2 may abstain: those rows are counted, not scored
    assert isinstance(a, api.SpanAgreement) and a.records + a.model_unlabeled == 2


def spans_of(label: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: e[k] for k in ("start", "end", "label", "text")} for e in label]
