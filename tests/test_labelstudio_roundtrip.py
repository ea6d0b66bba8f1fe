"""The review round trip through a real Label Studio server on 127.0.0.1.

`llmlabel review` writes tasks and a labeling config; the project is created from them,
reviewers' answers are submitted through the API, the project is exported (a snapshot, so the
predictions come back in full) and `llmlabel merge` reads the export.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.labelstudio_server import Server, running

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT = ROOT / "examples" / "sentiment"
pytestmark = pytest.mark.labelstudio


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("label-studio")) as server:
        yield server


def llmlabel(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "llmlabel", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    return result


def gold() -> dict[str, str]:
    rows = (
        json.loads(line) for line in (SENTIMENT / "reviews.gold.jsonl").read_text().splitlines()
    )
    return {r["id"]: r["label"] for r in rows}


def test_review_in_label_studio_and_merge_back(label_studio: Server, tmp_path: Path) -> None:
    llmlabel(
        "review", SENTIMENT / "predictions.sample.jsonl", "-i", SENTIMENT / "reviews.jsonl",
        "--task", SENTIMENT / "task.yaml", "--budget", "6", "--strategy", "margin",
        "-o", "to-review", cwd=tmp_path,
    )  # fmt: skip
    tasks = json.loads((tmp_path / "to-review" / "tasks.json").read_text())
    config = (tmp_path / "to-review" / "config.xml").read_text()

    project = label_studio.call(
        "POST", "/api/projects", json={"title": "llmlabel review", "label_config": config}
    )
    imported = label_studio.call(
        "POST",
        f"/api/projects/{project['id']}/import",
        params={"return_task_ids": "true"},
        json=tasks,
    )
    task_ids = imported["task_ids"]
    assert len(task_ids) == 6

    # Reviewers answer four tasks (one of them cancels) and leave two alone.
    truth = gold()
    answered = {}
    for task_id, task in zip(task_ids[:4], tasks[:4], strict=True):
        record_id = task["data"]["llmlabel_id"]
        answered[record_id] = truth[record_id]
        label_studio.call(
            "POST",
            f"/api/tasks/{task_id}/annotations/",
            json={
                "result": [
                    {
                        "from_name": "label",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": [truth[record_id]]},
                    }
                ],
                "was_cancelled": False,
            },
        )
    cancelled = tasks[4]["data"]["llmlabel_id"]
    label_studio.call(
        "POST", f"/api/tasks/{task_ids[4]}/annotations/", json={"result": [], "was_cancelled": True}
    )

    exported = export_snapshot(label_studio, project["id"])
    (tmp_path / "export.json").write_text(json.dumps(exported))
    by_id = {t["data"]["llmlabel_id"]: t for t in exported}
    for task in tasks:  # predictions come back as written: label, from_name, score
        back = by_id[task["data"]["llmlabel_id"]]
        assert [p["result"] for p in back["predictions"]] == [
            p["result"] for p in task["predictions"]
        ]

    pool = tmp_path / "pool.jsonl"
    shutil.copy(SENTIMENT / "examples.jsonl", pool)
    before = pool.read_text().splitlines()
    result = llmlabel(
        "merge", SENTIMENT / "predictions.sample.jsonl", "--corrections", "export.json",
        "--task", SENTIMENT / "task.yaml", "-o", "merged.jsonl", "--append-examples", pool,
        cwd=tmp_path,
    )  # fmt: skip
    assert "merged 40 rows: 4 by reviewers" in result.stdout
    rows = [json.loads(line) for line in (tmp_path / "merged.jsonl").read_text().splitlines()]
    assert len(rows) == 40
    human = {r["id"]: r for r in rows if r["source"] == "human"}
    assert {i: r["label"] for i, r in human.items()} == answered
    assert cancelled not in human
    assert all(r["source"] == "model" for r in rows if r["id"] not in answered)
    assert all(r["reviewer"] == "label-studio:1" or "@" in r["reviewer"] for r in human.values())

    added = [json.loads(line) for line in pool.read_text().splitlines()[len(before) :]]
    assert {a["id"]: a["label"] for a in added} == answered
    assert all(a["text"] for a in added)


def export_snapshot(server: Server, project_id: int) -> list[dict[str, object]]:
    """A JSON export with full predictions (the quick export lists prediction ids only)."""
    snapshot = server.call(
        "POST",
        f"/api/projects/{project_id}/exports/",
        json={"title": "llmlabel", "serialization_options": {"predictions": {"only_id": False}}},
    )
    for _ in range(60):
        status = server.call("GET", f"/api/projects/{project_id}/exports/{snapshot['id']}")
        if status["status"] == "completed":
            break
        assert status["status"] != "failed", status
        time.sleep(1)
    import requests

    response = requests.get(
        f"{server.url}/api/projects/{project_id}/exports/{snapshot['id']}/download",
        params={"exportType": "JSON"},
        headers={"Authorization": f"Token {server.token}"},
        timeout=60,
    )
    assert response.ok, response.text[:500]
    tasks: list[dict[str, object]] = response.json()
    return tasks


NER = ROOT / "examples" / "ner"


def test_ner_review_in_label_studio_and_merge_back(label_studio: Server, tmp_path: Path) -> None:
    """Spans as regions: the model's come back as predictions, a reviewer's as entities."""
    llmlabel(
        "review", NER / "predictions.sample.jsonl", "-i", NER / "news.jsonl",
        "--task", NER / "task.yaml", "--budget", "3", "-o", "to-review", cwd=tmp_path,
    )  # fmt: skip
    tasks = json.loads((tmp_path / "to-review" / "tasks.json").read_text())
    config = (tmp_path / "to-review" / "config.xml").read_text()
    project = label_studio.call(
        "POST", "/api/projects", json={"title": "llmlabel ner", "label_config": config}
    )
    imported = label_studio.call(
        "POST",
        f"/api/projects/{project['id']}/import",
        params={"return_task_ids": "true"},
        json=tasks,
    )
    ids = dict(zip((t["data"]["llmlabel_id"] for t in tasks), imported["task_ids"], strict=True))
    assert list(ids) == ["n03", "n08", "n01"]

    def region(start: int, end: int, text: str, label: str) -> dict[str, object]:
        value = {"start": start, "end": end, "text": text, "labels": [label]}
        return {"from_name": "entities", "to_name": "text", "type": "labels", "value": value}

    # The reviewer adds the missed "Kenya" to n03 and accepts n01 as predicted.
    n03 = [region(31, 36, "Kenya", "LOC"), region(41, 48, "Nigeria", "LOC")]
    n03.append(region(52, 59, "Nairobi", "LOC"))
    n01 = tasks[2]["predictions"][0]["result"]
    for record_id, result in (("n03", n03), ("n01", n01)):
        label_studio.call(
            "POST", f"/api/tasks/{ids[record_id]}/annotations/", json={"result": result}
        )

    exported = export_snapshot(label_studio, project["id"])
    (tmp_path / "export.json").write_text(json.dumps(exported))
    by_id = {t["data"]["llmlabel_id"]: t for t in exported}
    for task in tasks:  # regions come back as written, with their scores
        back = by_id[task["data"]["llmlabel_id"]]
        assert [p["result"] for p in back["predictions"]] == [
            p["result"] for p in task["predictions"]
        ]

    result = llmlabel(
        "merge", NER / "predictions.sample.jsonl", "--corrections", "export.json",
        "--task", NER / "task.yaml", "-o", "merged.jsonl", cwd=tmp_path,
    )  # fmt: skip
    # model 5 spans, reviewer 6, both 5: precision 1, recall 5/6
    assert "span precision 1.000 · recall 0.833 · F1 0.909" in result.stdout
    assert "merged 8 rows: 2 by reviewers (1 changed)" in result.stdout
    rows = {
        r["id"]: r for r in map(json.loads, (tmp_path / "merged.jsonl").read_text().splitlines())
    }
    assert [e["text"] for e in rows["n03"]["label"]] == ["Kenya", "Nigeria", "Nairobi"]
    assert rows["n03"]["tags"][5] == "B-LOC" and rows["n03"]["source"] == "human"
    assert rows["n08"]["source"] == "model"
