"""Label Studio and Argilla formats: what is written is checked, what is read back is checked.

The Argilla part loads our hand-off folder with the real SDK, offline (its server needs
Elasticsearch): settings through ``rg.Settings.from_json``, records through
``rg.Record.from_dict``, and reviewed records written by the SDK are read back.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from unittest import mock

import pytest

from llmlabel.core.review import Question
from llmlabel.errors import InputError
from llmlabel.io import argilla, labelstudio

SENTIMENT = Question("label", ["positive", "negative"], ["text"], False, "Sentiment", {})
TOPICS = Question("labels", ["billing", "refund", "account"], ["text"], True)


def test_labeling_config_lists_the_labels_as_choices() -> None:
    single = ET.fromstring(labelstudio.labeling_config(SENTIMENT))
    choices = single.find("Choices")
    assert choices is not None and choices.get("choice") == "single-radio"
    assert [c.get("value") for c in choices] == ["positive", "negative"]
    assert choices.get("toName") == "text"
    multi = ET.fromstring(labelstudio.labeling_config(TOPICS)).find("Choices")
    assert multi is not None and multi.get("choice") == "multiple"


def test_labeling_config_escapes_labels() -> None:
    q = Question("label", ['say "no" & <leave>'], ["text"], False)
    choices = ET.fromstring(labelstudio.labeling_config(q)).find("Choices")
    assert choices is not None and choices[0].get("value") == 'say "no" & <leave>'


def test_a_field_name_label_studio_cannot_use_is_an_error() -> None:
    with pytest.raises(InputError, match="cannot be a Label Studio variable"):
        labelstudio.labeling_config(Question("label", ["a"], ["review text"], False))


def test_task_carries_the_prediction_and_refuses_unknown_labels() -> None:
    task = labelstudio.task(SENTIMENT, "r1", {"text": "ok"}, "positive", 0.6, "m")
    assert task["data"] == {"text": "ok", "llmlabel_id": "r1"}
    result = task["predictions"][0]["result"][0]
    assert result["value"] == {"choices": ["positive"]} and result["score"] == 0.6
    assert labelstudio.task(SENTIMENT, "r2", {"text": "?"}, None, 0.0, "m")["predictions"] == []
    with pytest.raises(InputError, match="'neutral' is not a label"):
        labelstudio.task(SENTIMENT, "r3", {"text": "meh"}, "neutral", 0.5, "m")


def ls_task(record_id: str, *annotations: dict[str, object]) -> dict[str, object]:
    return {"id": 1, "data": {"text": "t", "llmlabel_id": record_id}, "annotations": annotations}


def choice(*labels: str, name: str = "label", **extra: object) -> dict[str, object]:
    result = {"from_name": name, "to_name": "text", "type": "choices"}
    return {"result": [{**result, "value": {"choices": list(labels)}}], **extra}


def test_read_export_takes_the_latest_answer_and_skips_cancelled(tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    export.write_text(
        json.dumps(
            [
                ls_task(
                    "r1",
                    choice("positive", updated_at="2026-01-01", completed_by=1),
                    choice("negative", updated_at="2026-01-02", completed_by=2),
                ),
                ls_task("r2", {"result": [], "was_cancelled": True}),
                ls_task("r3"),
            ]
        )
    )
    corrections, notes = labelstudio.read_export(export, SENTIMENT)
    assert [(c.id, c.label, c.annotator) for c in corrections] == [
        ("r1", "negative", "label-studio:2")
    ]
    assert corrections[0].data == {"text": "t"}
    assert any("2 task(s) without" in n for n in notes)


def test_read_export_checks_the_answers(tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    export.write_text(json.dumps([ls_task("r1", choice("neutral"))]))
    with pytest.raises(InputError, match=r"task 1.*'neutral' is not a label"):
        labelstudio.read_export(export, SENTIMENT)
    export.write_text(json.dumps([{"data": {"text": "no id"}}]))
    with pytest.raises(InputError, match="no 'llmlabel_id'"):
        labelstudio.read_export(export, SENTIMENT)
    export.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(InputError, match="list of tasks"):
        labelstudio.read_export(export, SENTIMENT)


def test_multi_label_answers_are_label_sets_in_task_order(tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    export.write_text(json.dumps([ls_task("t1", choice("refund", "billing", name="labels"))]))
    corrections, _ = labelstudio.read_export(export, TOPICS)
    assert corrections[0].label == ("billing", "refund")


def write_handoff(folder: Path, question: Question, label: object) -> None:
    record = argilla.record(question, "r1", {"text": "ok"}, label, 0.8, "m", {"u": 0.2})  # type: ignore[arg-type]
    for name, text in argilla.handoff(question, "sentiment", [record], "Judge it.").items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


@pytest.mark.parametrize(("question", "label"), [(SENTIMENT, "positive"), (TOPICS, ("refund",))])
def test_the_argilla_sdk_loads_the_handoff_folder(
    tmp_path: Path, question: Question, label: object
) -> None:
    rg = pytest.importorskip("argilla")
    from argilla._models._dataset import DatasetModel

    write_handoff(tmp_path, question, label)
    assert DatasetModel(**json.loads((tmp_path / argilla.DATASET).read_text())).name == "sentiment"
    with mock.patch.object(rg.Argilla, "_validate_connection", lambda self: None):
        rg.Argilla(api_url="http://127.0.0.1:9", api_key="offline")  # the SDK's default client
        settings = rg.Settings.from_json(tmp_path / argilla.SETTINGS)
    assert [q.name for q in settings.questions] == [question.name]
    assert list(settings.questions[0].labels) == list(question.labels)
    assert [f.name for f in settings.fields] == ["text"]
    records = [rg.Record.from_dict(r) for r in json.loads((tmp_path / argilla.RECORDS).read_text())]
    suggestion = records[0].suggestions[question.name]
    assert suggestion.value == (label if isinstance(label, str) else list(label))
    assert suggestion.score == 0.8


def test_reviewed_argilla_records_come_back_as_corrections(tmp_path: Path) -> None:
    rg = pytest.importorskip("argilla")
    user = uuid.uuid4()
    reviewed = [
        rg.Record(
            id="r1",
            fields={"text": "ok"},
            responses=[rg.Response("label", "negative", user_id=user, status="submitted")],
        ),
        rg.Record(id="r2", fields={"text": "?"}),
    ]
    path = tmp_path / "reviewed.json"
    path.write_text(json.dumps([r.to_dict() for r in reviewed], default=str))
    corrections, notes = argilla.read_records(path, SENTIMENT)
    assert [(c.id, c.label, c.annotator, dict(c.data)) for c in corrections] == [
        ("r1", "negative", f"argilla:{user}", {"text": "ok"})
    ]
    assert "1 record(s) without" in notes[0]


def test_flattened_argilla_records_skip_discarded_responses(tmp_path: Path) -> None:
    path = tmp_path / "flat.json"
    path.write_text(
        json.dumps(
            [
                {
                    "id": "r1",
                    "text": "ok",
                    "label.responses": ["negative", "positive"],
                    "label.responses.users": ["u1", "u2"],
                    "label.responses.status": ["submitted", "discarded"],
                }
            ]
        )
    )
    corrections, _ = argilla.read_records(path, SENTIMENT)
    assert [(c.label, c.annotator) for c in corrections] == [("negative", "argilla:u1")]


def test_argilla_response_outside_the_labels_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps([{"id": "r1", "fields": {}, "responses": {"label": [{"value": "meh"}]}}])
    )
    with pytest.raises(InputError, match=r"record 1 .*'meh' is not a label"):
        argilla.read_records(path, SENTIMENT)
