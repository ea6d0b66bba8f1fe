"""NER review formats: Label Studio (a Labels config, spans as scored regions, regions read back
as spans) and Argilla (a span question, loaded and written by the real SDK, offline)."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from llmlabel.core.review import Question
from llmlabel.core.spans import Span
from llmlabel.errors import InputError
from llmlabel.io import argilla, labelstudio

NEWS = Question("entities", ["PER", "LOC"], ["text"], False, "", {"PER": "a person"}, spans=True)
TEXT = "Angela Merkel met Emmanuel Macron in Paris."
MERKEL = Span(0, 13, "PER", "Angela Merkel")
PARIS = Span(37, 42, "LOC", "Paris")


def test_labeling_config_is_labels_on_the_text() -> None:
    view = ET.fromstring(labelstudio.labeling_config(NEWS))
    assert [child.tag for child in view] == ["Labels", "Text"]
    labels, text = view
    assert labels.attrib == {"name": "entities", "toName": "text"}
    assert [(e.get("value"), e.get("hint")) for e in labels] == [("PER", "a person"), ("LOC", None)]
    assert text.attrib == {"name": "text", "value": "$text"}


def test_task_has_a_scored_region_per_entity_and_carries_tokens() -> None:
    data = {"text": TEXT, "tokens": TEXT.split()}
    task = labelstudio.task(NEWS, "n1", data, (MERKEL, PARIS), 0.6, "m", {MERKEL: 1.0})
    assert task["data"] == {"text": TEXT, "llmlabel_id": "n1", "tokens": TEXT.split()}
    (prediction,) = task["predictions"]
    assert prediction["score"] == 0.6 and prediction["model_version"] == "m"
    regions = prediction["result"]
    assert [r["value"] for r in regions] == [
        {"start": 0, "end": 13, "text": "Angela Merkel", "labels": ["PER"]},
        {"start": 37, "end": 42, "text": "Paris", "labels": ["LOC"]},
    ]
    assert [r["score"] for r in regions] == [1.0, 0.6]  # Paris has no span score: the record's
    assert {(r["from_name"], r["to_name"], r["type"]) for r in regions} == {
        ("entities", "text", "labels")
    }
    empty = labelstudio.task(NEWS, "n2", {"text": "nothing"}, (), 1.0, "m")
    assert empty["predictions"][0]["result"] == []  # "no entities" is an answer too
    with pytest.raises(InputError, match="not at 1:14"):
        labelstudio.task(NEWS, "n3", data, (Span(1, 14, "PER", "Angela Merkel"),), 1.0, "m")


def region(start: int, end: int, text: str, label: str | list[str]) -> dict[str, Any]:
    labels = label if isinstance(label, list) else [label]
    return {
        "from_name": "entities",
        "to_name": "text",
        "type": "labels",
        "value": {"start": start, "end": end, "text": text, "labels": labels},
    }


def exported(tmp_path: Path, text: str, *results: list[dict[str, Any]]) -> Path:
    tasks = [
        {
            "id": n,
            "data": {"text": text, "llmlabel_id": f"n{n}"},
            "annotations": [{"id": n, "result": result, "completed_by": 1}],
        }
        for n, result in enumerate(results, start=1)
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    return path


def test_regions_come_back_as_spans_and_no_region_means_no_entities(tmp_path: Path) -> None:
    path = exported(
        tmp_path,
        TEXT,
        [region(37, 42, "Paris", "LOC"), region(0, 13, "Angela Merkel", "PER")],
        [],
    )
    (first, second), notes = labelstudio.read_export(path, NEWS)
    assert first.label == (MERKEL, PARIS) and first.annotator == "label-studio:1"
    assert second.label == () and notes == []


def test_utf16_offsets_are_converted(tmp_path: Path) -> None:
    text = "🎉 Party in Paris"  # the emoji is two UTF-16 code units, one code point
    path = exported(tmp_path, text, [region(12, 17, "Paris", "LOC")])
    (correction,), _ = labelstudio.read_export(path, NEWS)
    assert text[11:16] == "Paris" and correction.label == (Span(11, 16, "LOC", "Paris"),)


@pytest.mark.parametrize(
    ("result", "needle"),
    [
        ([region(0, 13, "Angela Merkel", "ORG")], "entity type 'ORG'"),
        ([region(0, 13, "Angela Merkel", ["PER", "LOC"])], "exactly one entity type"),
        ([region(0, 6, "Angela", "PER"), region(0, 13, "Angela Merkel", "PER")], "overlap"),
        ([region(2, 9, "Merkel", "PER")], "not at 2:9"),
        ([{**region(0, 1, "A", "PER"), "value": {"labels": ["PER"]}}], "no character offsets"),
    ],
)
def test_bad_regions_name_the_task(tmp_path: Path, result: list[Any], needle: str) -> None:
    with pytest.raises(InputError, match=needle) as caught:
        labelstudio.read_export(exported(tmp_path, TEXT, result), NEWS)
    assert "task 1 (record 'n1')" in str(caught.value.where)


def test_the_argilla_sdk_loads_a_span_question_and_span_suggestions(tmp_path: Path) -> None:
    rg = pytest.importorskip("argilla")
    record = argilla.record(
        NEWS, "n1", {"text": TEXT}, (MERKEL, PARIS), 0.6, "m", {}, {MERKEL: 1.0}
    )
    for name, text in argilla.handoff(NEWS, "news", [record], "Mark the names.").items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with mock.patch.object(rg.Argilla, "_validate_connection", lambda self: None):
        rg.Argilla(api_url="http://127.0.0.1:9", api_key="offline")
        settings = rg.Settings.from_json(tmp_path / argilla.SETTINGS)
    (question,) = settings.questions
    assert isinstance(question, rg.SpanQuestion) and question.name == "entities"
    assert question.field == "text" and not question.allow_overlapping
    assert list(question.labels) == ["PER", "LOC"]
    (loaded,) = [
        rg.Record.from_dict(r) for r in json.loads((tmp_path / argilla.RECORDS).read_text())
    ]
    suggestion = loaded.suggestions["entities"]
    assert suggestion.value == [
        {"start": 0, "end": 13, "label": "PER"},
        {"start": 37, "end": 42, "label": "LOC"},
    ]
    assert suggestion.score == [1.0, 0.6]


def test_reviewed_argilla_spans_come_back_as_entities(tmp_path: Path) -> None:
    rg = pytest.importorskip("argilla")
    user = uuid.uuid4()
    spans = [{"start": 37, "end": 42, "label": "LOC"}, {"start": 0, "end": 13, "label": "PER"}]
    reviewed = [
        rg.Record(
            id="n1",
            fields={"text": TEXT},
            responses=[rg.Response("entities", spans, user_id=user, status="submitted")],
        ),
    ]
    path = tmp_path / "reviewed.json"
    path.write_text(json.dumps([r.to_dict() for r in reviewed], default=str))
    (correction,), _ = argilla.read_records(path, NEWS)
    assert correction.label == (MERKEL, PARIS) and correction.annotator == f"argilla:{user}"
    spans[0]["label"] = "ORG"
    path.write_text(
        json.dumps(
            [{"id": "n1", "fields": {"text": TEXT}, "responses": {"entities": [{"value": spans}]}}]
        )
    )
    with pytest.raises(InputError, match="entity type 'ORG'"):
        argilla.read_records(path, NEWS)
