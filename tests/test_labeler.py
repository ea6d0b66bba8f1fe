"""``llmlabel.Labeler`` / ``alabel``: notebook-style labeling on SmolLM2, the model loaded once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from datasets import Dataset

import llmlabel
from llmlabel.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
REVIEWS = [
    {"text": "Works perfectly, I love it."},
    {"text": "Broke after one day. Avoid."},
    {"text": "   "},  # empty: a skipped row, not a crash
]
TASK: dict[str, Any] = {
    "name": "mood",
    "description": "Is the review positive or negative?",
    "labels": ["positive", "negative"],
}


@pytest.fixture
def labeler(smollm2_path: Path) -> Any:
    with llmlabel.Labeler(TASK, overrides={"backend.model": str(smollm2_path)}, cache=False) as lab:
        yield lab


def test_lists_frames_and_datasets_come_back_as_they_went_in(labeler: Any) -> None:
    rows = labeler.label(REVIEWS)
    assert [r["text"] for r in rows] == [r["text"] for r in REVIEWS]
    assert [r["status"] for r in rows] == ["labeled", "labeled", "skipped"]
    assert all(r["label"] in ("positive", "negative") for r in rows[:2])
    assert all(0 < r["confidence"] <= 1 and set(r["probs"]) == {"positive", "negative"}
               for r in rows[:2])  # fmt: skip
    backend = labeler._backend
    frame = labeler.label(pd.DataFrame(REVIEWS[:2]))
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["label"]) == [r["label"] for r in rows[:2]]
    assert labeler._backend is backend  # the model stayed loaded between calls
    data = labeler.label(Dataset.from_list(REVIEWS[:2]))
    assert isinstance(data, Dataset) and data["label"] == [r["label"] for r in rows[:2]]


def test_sync_calls_work_inside_a_running_event_loop(labeler: Any) -> None:
    """What a Jupyter cell is: code running while an event loop runs in the same thread."""

    async def cell() -> tuple[Any, Any]:
        return labeler.label(REVIEWS[:1]), await labeler.alabel(REVIEWS[:1])

    synced, awaited = asyncio.run(cell())
    assert synced[0]["label"] == awaited[0]["label"] and synced[0]["status"] == "labeled"


def test_alabel_from_a_task_file_and_a_path(tmp_path: Path, smollm2_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in REVIEWS[:2]))
    task = ROOT / "examples/sentiment/task.yaml"
    rows = asyncio.run(
        llmlabel.alabel(task, data, overrides={"backend.model": str(smollm2_path)}, cache=False)
    )
    assert [r["status"] for r in rows] == ["labeled", "labeled"]


def test_refusals_are_one_line(labeler: Any) -> None:
    with pytest.raises(ConfigError, match="already have a column 'label'"):
        labeler.label([{"text": "ok", "label": "positive"}])
    with pytest.raises(ConfigError, match="cannot label a int"):
        labeler.label(3)
    labeler.close()
    with pytest.raises(ConfigError, match="closed"):
        labeler.label(REVIEWS[:1])


def test_each_call_shows_a_progress_bar_unless_told_not_to(
    smollm2_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = {"backend.model": str(smollm2_path)}
    with llmlabel.Labeler(TASK, overrides=overrides, cache=False) as lab:
        lab.label(REVIEWS)
    shown = capsys.readouterr().err
    assert "labeling" in shown and "3/3" in shown  # the skipped record counts as done
    with llmlabel.Labeler(TASK, overrides=overrides, cache=False, progress=False) as lab:
        lab.label(REVIEWS)
    assert "labeling" not in capsys.readouterr().err
