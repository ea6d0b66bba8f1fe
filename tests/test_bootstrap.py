"""``bootstrap:``: transductive few-shot from the records themselves. The pool choice on
constructed rows; the rounds (resumable, leak-free) through ``llmlabel.label`` with the
scripted backend and, end to end, with SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import llmlabel
from llmlabel.core.bootstrap import choose
from llmlabel.core.request import LabelRequest
from llmlabel.errors import ConfigError, OutputError
from llmlabel.io.manifest import manifest_path_for
from tests.fakes import FakeBackend, choice_seed, record_text

ROOT = Path(__file__).resolve().parent.parent


def row(record_id: str, label: str, confidence: float, status: str = "labeled") -> dict:  # type: ignore[type-arg]
    return {"id": record_id, "label": label, "confidence": confidence, "status": status}


def test_the_pool_is_the_most_confident_rows_per_label() -> None:
    rows = [
        row("a", "pos", 0.9), row("b", "pos", 0.99), row("c", "pos", 0.95), row("d", "neg", 0.6),
        row("e", "neg", 0.6), row("f", "neg", 0.99, "failed"), row("g", "other", 1.0),
        row("h", "neg", 0.2),
    ]  # fmt: skip
    assert choose(rows, ["pos", "neg"], per_label=2) == [
        ("b", "pos"), ("c", "pos"), ("d", "neg"), ("e", "neg"),
    ]  # fmt: skip
    assert choose(rows, ["neg", "pos"], per_label=5, min_confidence=0.5) == [
        ("d", "neg"), ("e", "neg"), ("b", "pos"), ("c", "pos"), ("a", "pos"),
    ]  # fmt: skip


RECORDS = [
    {"id": "r1", "text": "great"},
    {"id": "r2", "text": "awful"},
    {"id": "r3", "text": "great"},  # r1's text under another id
    {"id": "r4", "text": "fine I guess"},
    {"id": "r5", "text": "terrible"},
]
TASK = """\
name: mood
labels: [pos, neg]
samples: 3
temperature: 0.7
confidence: vote
bootstrap: {rounds: 1, per_label: 2, shots: 2, strategy: fixed}
"""


def script(request: LabelRequest, i: int) -> str:
    text = record_text(request)
    if "fine" in text:  # unsure: split by seed
        return json.dumps({"label": "pos" if (choice_seed(request, i) or 0) % 2 else "neg"})
    return json.dumps({"label": "pos" if "great" in text else "neg"})


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "task.yaml").write_text(TASK)
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return {"task": tmp_path / "task.yaml", "input": data, "output": tmp_path / "out.jsonl"}


def label(files: dict[str, Path], backend: FakeBackend, **options: object) -> object:
    return llmlabel.label(
        files["task"], files["input"], files["output"], backend=backend, cache=False, **options
    )


def test_rounds_label_with_a_pool_of_their_own_labels_never_their_own_record(
    files: dict[str, Path],
) -> None:
    backend = FakeBackend(script)
    label(files, backend)
    assert len(backend.requests) == 2 * len(RECORDS)  # one zero-shot pass, then the final one
    zero_shot, final = backend.requests[: len(RECORDS)], backend.requests[len(RECORDS) :]
    assert all(len(r.messages) == 2 for r in zero_shot)  # system + record: no examples
    assert all(len(r.messages) == 2 + 2 * 2 for r in final)  # two shots each
    work = files["output"].with_name("out.jsonl.bootstrap")
    pool = [json.loads(line) for line in (work / "pool-0.jsonl").read_text().splitlines()]
    assert {p["label"] for p in pool} == {"pos", "neg"} and len(pool) == 4
    assert {p["id"]: p["text"] for p in pool}["r1"] == "great"  # the record's fields
    rows = {r["id"]: r for r in map(json.loads, files["output"].read_text().splitlines())}
    assert set(rows) == {r["id"] for r in RECORDS}
    pool_text = {p["id"]: p["text"] for p in pool}
    for record in RECORDS:
        shown = rows[record["id"]]["examples"]
        assert record["id"] not in shown  # never itself by id …
        assert all(pool_text[e] != record["text"] for e in shown)  # … nor by text
    manifest = json.loads(manifest_path_for(files["output"]).read_text())
    assert manifest["bootstrap"]["rounds"][0]["labels"] == {"pos": 2, "neg": 2}
    assert manifest["bootstrap"]["shots"] == 2


def test_rounds_resume_and_overwrite_starts_again(files: dict[str, Path]) -> None:
    label(files, FakeBackend(script))
    again = FakeBackend(script)
    with pytest.raises(OutputError, match="earlier bootstrap run"):
        label(files, again)
    label(files, again, resume=True)
    assert again.requests == []  # the round and the final pass are both finished
    fresh = FakeBackend(script)
    label(files, fresh, overwrite=True)
    assert len(fresh.requests) == 2 * len(RECORDS)


def test_bootstrap_needs_one_label_per_record_and_no_pool_of_its_own(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TASK + "examples: {items: [{id: e, text: ok, label: pos}]}\n")
    with pytest.raises(ConfigError, match="bootstrap builds the example pool"):
        llmlabel.label(bad, tmp_path / "in.jsonl", tmp_path / "o.jsonl")
    multi = tmp_path / "multi.yaml"
    multi.write_text(TASK.replace("name: mood", "name: mood\nkind: multi_label"))
    with pytest.raises(ConfigError, match="one label per record"):
        llmlabel.label(multi, tmp_path / "in.jsonl", tmp_path / "o.jsonl")


def test_bootstrap_is_refused_where_it_cannot_run(files: dict[str, Path]) -> None:
    """In-memory labeling and Ray have no passes over a file: they refuse, not ignore, it."""
    with pytest.raises(ConfigError, match="has `bootstrap:`"):
        llmlabel.label_records(files["task"], RECORDS, backend=FakeBackend(script), cache=False)
    lab = llmlabel.Labeler(files["task"], backend=FakeBackend(script), cache=False)
    with lab, pytest.raises(ConfigError, match="has `bootstrap:`"):
        lab.label(RECORDS)
    with pytest.raises(ConfigError, match="local runner"):
        llmlabel.api.label_on_ray(files["task"], files["input"], files["output"])


def test_bootstrap_on_smollm2_end_to_end(tmp_path: Path, smollm2_path: Path) -> None:
    reviews = (ROOT / "examples/sentiment/reviews.jsonl").read_text().splitlines()[:6]
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(reviews) + "\n")
    overrides = {"backend.model": str(smollm2_path)}
    task = tmp_path / "task.yaml"
    task.write_text(
        "name: review-sentiment\ndescription: Is the review positive or negative?\n"
        "labels: [positive, negative]\n"
        "bootstrap: {rounds: 2, per_label: 2, shots: 1}\n"
    )
    result = llmlabel.label(task, data, tmp_path / "out.jsonl", overrides=overrides, cache=False)
    rows = [json.loads(line) for line in result.output.read_text().splitlines()]
    assert len(rows) == 6 and all(r["status"] == "labeled" for r in rows)
    assert all(len(r["examples"]) == 1 and r["examples"][0] != r["id"] for r in rows)
    rounds = json.loads(result.manifest.read_text())["bootstrap"]["rounds"]
    assert [Path(r["output"]).name for r in rounds] == ["round-0.jsonl", "round-1.jsonl"]
    assert all(sum(r["labels"].values()) >= 1 for r in rounds)
