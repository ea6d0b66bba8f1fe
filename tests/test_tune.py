"""``llmlabel tune``: the search sees only dev; held-out is labeled once, after it; an option
is accepted only with a significant paired test; the tuned task file works where written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.commands import tune
from llmlabel.core.request import LabelRequest
from llmlabel.task import load
from tests.fakes import FakeBackend, record_text

TASK = """\
name: mood
description: Is the review positive or negative?
labels: [positive, negative]
confidence: vote
"""
WORDS = ["lovely", "great", "superb", "fine", "nice", "awful", "bad", "poor", "dull", "sad"]


def gold(tmp_path: Path, n: int = 60) -> Path:
    rows = [
        {"id": f"g{i}", "text": f"{WORDS[i % 10]} thing number {i}",
         "label": "positive" if i % 10 < 5 else "negative"}
        for i in range(n)
    ]  # fmt: skip
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def script(request: LabelRequest, i: int) -> str:
    """Right only when the prompt shows examples; otherwise 'positive' for everything."""
    if request.schema_name == "Instructions":
        return json.dumps({"instructions": f"Decide the overall mood (proposal {request.seed})."})
    if request.schema_name == "LabelDescriptions":
        return json.dumps({"positive": "the reviewer is happy", "negative": "unhappy"})
    shots = len(request.messages) > 2
    negative = any(w in record_text(request) for w in WORDS[5:])
    return json.dumps({"label": "negative" if shots and negative else "positive"})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    backend = FakeBackend(script)
    monkeypatch.setattr(tune, "make_backend", lambda spec: backend)
    return backend


def test_the_search_never_labels_held_out_records_before_the_final_score(
    tmp_path: Path, fake: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "task.yaml").write_text(TASK)
    events: list[tuple[str, list[str]]] = []
    score = tune._Search.score

    async def spy(self: Any, name: str, overrides: Any, split: Any) -> Any:
        events.append((name, [r["id"] for r in split[0]]))
        return await score(self, name, overrides, split)

    monkeypatch.setattr(tune._Search, "score", spy)
    steps: list[str] = []
    result = llmlabel.tune(
        tmp_path / "task.yaml", gold(tmp_path), tmp_path / "tuned.yaml", cache=False,
        on_step=lambda name: steps.append(name) or events.append((name, [])),
    )  # fmt: skip
    final = events.index(("held-out", []))
    searched = {i for name, ids in events[:final] for i in ids}
    held = {i for name, ids in events[final + 1 :] for i in ids}
    assert len(searched) == result.dev == 30 and len(held) == result.held_out == 30
    assert not searched & held  # not one held-out record labeled during the search
    assert [name for name, _ in events[final + 1 :]] == ["as given", "tuned"]  # once each
    assert steps == [*tune.STEPS, "held-out"]


def test_only_a_significant_step_is_accepted_and_the_file_keeps_it(
    tmp_path: Path, fake: FakeBackend
) -> None:
    (tmp_path / "task.yaml").write_text(TASK)
    out = tmp_path / "out" / "tuned.yaml"
    result = llmlabel.tune(tmp_path / "task.yaml", gold(tmp_path), out, cache=False)
    accepted = [t for t in result.trials if t.accepted]
    # Only examples fix the fake's answers: describe and instructions change nothing (p = 1).
    assert [t.step for t in accepted] == ["examples"]
    assert accepted[0].p_value < 0.05 and accepted[0].better > accepted[0].worse
    # one option per step wins at most: the other examples option is not taken as well
    assert len([t for t in result.trials if t.step == "examples"]) == 2
    assert result.pair.delta("accuracy").b == 1.0 and result.pair.delta("accuracy").a == 0.5
    tuned = load(out)  # the examples file lies beside the tuned task, relative to it
    assert tuned.spec.examples.path == "tuned.examples.jsonl" and tuned.spec.examples.k
    pool = [json.loads(x) for x in (out.parent / "tuned.examples.jsonl").read_text().splitlines()]
    assert len(pool) == result.dev and {r["label"] for r in pool} == {"positive", "negative"}
    report = out.with_suffix(".tune.md").read_text()
    assert "## Held-out (labeled once, after the search)" in report and "| examples |" in report


def test_nothing_significant_leaves_the_task_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(lambda r, i: json.dumps({"label": "positive"}))
    monkeypatch.setattr(tune, "make_backend", lambda spec: backend)
    (tmp_path / "task.yaml").write_text(TASK)
    out = tmp_path / "tuned.yaml"
    result = llmlabel.tune(
        tmp_path / "task.yaml", gold(tmp_path), out, cache=False, steps=["examples", "bias"]
    )
    assert result.overrides == {} and not any(t.accepted for t in result.trials)
    assert not (tmp_path / "tuned.examples.jsonl").exists()
    assert load(out).spec.model_dump() == load(tmp_path / "task.yaml").spec.model_dump()


def test_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(TASK)
    small = gold(tmp_path, n=12)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "llmlabel", "tune", str(tmp_path / "task.yaml")]
        return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)

    for args, needle in [
        (["-g", str(small), "-o", str(tmp_path / "t.yaml")], "each needs at least 10"),
        (["-g", str(small), "-o", str(tmp_path / "t.yaml"), "--steps", "magic"], "unknown step"),
        (["-g", str(small), "-o", str(tmp_path / "task.yaml")], "--output"),
    ]:
        result = cli(*args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0 and len(lines) == 1 and needle in lines[0], result.stderr


def test_tune_on_the_real_model_writes_a_task_that_runs(tmp_path: Path, smollm2_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(TASK + "backend: {model: smollm2-135m}\n")
    out = tmp_path / "tuned.yaml"
    command = [sys.executable, "-m", "llmlabel", "tune", str(tmp_path / "task.yaml"), "-g"]
    command += [str(gold(tmp_path, n=24)), "-o", str(out), "--steps", "instructions,examples"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert "held-out (12 records, labeled once)" in result.stdout
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "x", "text": "superb thing"}\n')
    run = llmlabel.label(out, data, tmp_path / "labels.jsonl", cache=False)
    assert run.stats.labeled + run.stats.abstained == 1
