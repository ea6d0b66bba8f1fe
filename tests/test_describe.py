"""``describe_labels``: the model writes the missing label descriptions once, before a run."""

from __future__ import annotations

import json
from pathlib import Path

import llmlabel
from llmlabel.core.request import LabelRequest
from llmlabel.io.manifest import manifest_path_for
from llmlabel.runs import describe
from llmlabel.task import load
from tests.fakes import FakeBackend

TASK = """\
name: mood
description: Is the review positive or negative?
labels:
  positive: null
  negative: the reviewer is unhappy
describe_labels: true
"""


def script(request: LabelRequest, i: int) -> str:
    if request.schema_name == "LabelDescriptions":
        return json.dumps({"positive": "  the reviewer\nis happy  "})
    return json.dumps({"label": "positive"})


def test_only_bare_labels_are_asked_for(tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(TASK)
    asked = describe.request(load(tmp_path / "task.yaml"))
    assert asked is not None and asked.json_schema["required"] == ["positive"]
    assert asked.temperature == 0.0 and "positive" in asked.messages[-1].content
    assert describe.parse("no json", ["positive"]) == {}
    assert describe.parse('{"positive": ""}', ["positive"]) == {}
    assert describe.parse('x {"positive": "' + "y" * 500 + '"}', ["positive"]) == {
        "positive": "y" * describe.MAX_CHARS
    }


def test_the_run_prompts_with_the_written_lines_and_records_them(tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(TASK)
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "Lovely."}\n{"id": "b", "text": "Great."}\n')
    backend = FakeBackend(script)
    out = tmp_path / "out.jsonl"
    result = llmlabel.label(tmp_path / "task.yaml", data, out, backend=backend, cache=False)
    assert result.stats.labeled == 2
    first, *labeling = backend.requests
    assert first.schema_name == "LabelDescriptions" and len(labeling) == 2  # asked once
    system = labeling[0].messages[0].content
    assert "positive: the reviewer is happy" in system  # whitespace collapsed
    assert "negative: the reviewer is unhappy" in system  # a given description is kept
    totals = json.loads(manifest_path_for(out).read_text())["totals"]
    assert totals["label_descriptions"] == {"positive": "the reviewer is happy"}


def test_the_request_shows_the_first_records_and_no_gold(tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(TASK)
    data = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": f"r{i}", "text": f"Review number {i}.", "label": "SECRET"})
        for i in range(describe.RECORDS + 3)
    ]
    data.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    backend = FakeBackend(script)
    out = tmp_path / "out.jsonl"
    result = llmlabel.label(
        tmp_path / "task.yaml", data, out, backend=backend, cache=False, on_error="skip"
    )
    assert result.stats.labeled == len(lines) and result.stats.skipped_bad == 1  # none lost
    asked = backend.requests[0].messages[-1].content
    shown = [f"Review number {i}." for i in range(describe.RECORDS - 1)]  # one line unreadable
    assert all(f"- {text}" in asked for text in shown)
    assert f"Review number {describe.RECORDS}." not in asked  # only the first records
    assert "SECRET" not in asked  # a record's other fields (a gold label) are not shown
    again = FakeBackend(script)  # the same input asks the same request (a resume hits the cache)
    llmlabel.label(
        tmp_path / "task.yaml", data, tmp_path / "o2.jsonl", backend=again, cache=False,
        on_error="skip",
    )  # fmt: skip
    assert again.requests[0] == backend.requests[0]


def test_an_unusable_answer_leaves_the_labels_bare(tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(TASK)
    backend = FakeBackend(
        lambda r, i: "sorry" if r.schema_name == "LabelDescriptions" else '{"label": "negative"}'
    )
    rows = llmlabel.label_records(
        tmp_path / "task.yaml", [{"id": "a", "text": "Meh."}], backend=backend, cache=False
    )
    assert rows[0]["label"] == "negative"
    system = backend.requests[1].messages[0].content
    assert "- positive:" not in system and "- negative: the reviewer is unhappy" in system


def test_describe_labels_on_smollm2(tmp_path: Path, smollm2_path: Path) -> None:
    bare = TASK.replace("negative: the reviewer is unhappy", "negative: null")
    (tmp_path / "task.yaml").write_text(bare)
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "text": "Lovely."}\n')
    out = tmp_path / "out.jsonl"
    result = llmlabel.label(tmp_path / "task.yaml", data, out, cache=False,
                            overrides={"backend.model": str(smollm2_path)})  # fmt: skip
    assert result.stats.labeled == 1
    written = json.loads(result.manifest.read_text())["totals"].get("label_descriptions")
    assert set(written) == {"positive", "negative"}  # constrained: every label gets a line
