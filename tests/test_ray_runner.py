"""The Ray Data runner: the local runner's rows, from a local Ray cluster.

Ray binds every interface, so the integration test runs its cluster (and the llama.cpp server it
labels through) in a private network namespace with only loopback (``unshare -n``), driven by
``tests/ray_namespace.py``. The unit tests need no cluster: everything they check happens on the
driver before Ray starts.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmlabel import api
from llmlabel.errors import InputError, OutputError
from llmlabel.io.readers import InputRecord, read_records
from llmlabel.runs.ray_parts import pack, unpack

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "examples/sentiment/task.yaml"
README_RAY = [  # the docs' example (README.md and docs/*.md)
    line.strip()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for line in doc.read_text().splitlines()
    if line.startswith("llmlabel run") and "--runner ray" in line
]


def _records(path: Path) -> Path:
    """Six reviews, a repeated id and an empty text: 8 records, partitions of 3, 3 and 2."""
    reviews = (ROOT / "examples/sentiment/reviews.jsonl").read_text().splitlines()[:6]
    extra = [reviews[0], json.dumps({"id": "blank", "text": "  "})]
    path.write_text("\n".join([*reviews, *extra]) + "\n")
    return path


def _unshare() -> list[str] | None:
    """The unshare command that gives this user a loopback-only namespace, if any does."""
    if shutil.which("unshare") is None:
        return None
    for flags in (["-n"], ["-rn"]):
        probe = subprocess.run(
            ["unshare", *flags, "ip", "link", "set", "lo", "up"], capture_output=True
        )
        if probe.returncode == 0:
            return ["unshare", *flags]
    return None


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _by_key(rows: list[dict[str, Any]]) -> dict[tuple[Any, Any], dict[str, Any]]:
    return {(r["id"], r.get("where")): r for r in rows}


def _same_rows(a: Path, b: Path) -> None:
    left, right = _by_key(_rows(a)), _by_key(_rows(b))
    assert left.keys() == right.keys()
    for key, row in left.items():
        other = right[key]
        for name in ("status", "label", "votes", "examples", "provenance", "error"):
            assert row[name] == other[name], (key, name, row[name], other[name])
        # Label probabilities come from llama.cpp's logits, which differ in the last digits
        # between batches (three slots, filled in another order by Ray's partitions); a token
        # at the edge of the top-20 alternatives can then enter or leave the walk, which moved
        # one probability by 0.018 in CI. Labels and votes above are exact.
        assert row["confidence"] == pytest.approx(other["confidence"], abs=0.05), key
        assert (row.get("probs") or {}) == pytest.approx(other.get("probs") or {}, abs=0.05), key


@pytest.fixture(scope="module")
def namespace_run(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path) -> Path:
    unshare = _unshare()
    if unshare is None:
        pytest.skip("no `unshare -n` (or -rn) here: Ray must not bind outside loopback")
    work = tmp_path_factory.mktemp("ray")
    for name in ("examples", "schemas", "prompts"):
        (work / name).symlink_to(ROOT / name)
    _records(work / "in.jsonl")
    driver = [sys.executable, "-m", "tests.ray_namespace", str(work), str(smollm2_path)]
    script = "ip link set lo up && exec nice -n 10 " + shlex.join(driver)
    env = {**os.environ, "README_RAY_COMMAND": README_RAY[0] if README_RAY else ""}
    result = subprocess.run(
        [*unshare, "bash", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return work


def _found(work: Path) -> dict[str, Any]:
    return json.loads((work / "found.json").read_text())  # type: ignore[no-any-return]


def test_ray_over_llama_cpp_server_equals_local_runner(namespace_run: Path) -> None:
    found = _found(namespace_run)
    for name in ("cli_local", "cli_ray"):
        assert found[name]["rc"] == 0, found[name]["stderr"]
    _same_rows(namespace_run / "local.jsonl", namespace_run / "ray.jsonl")
    rows = _rows(namespace_run / "ray.jsonl")
    assert [r["id"] for r in rows] == ["r01", "r02", "r03", "r04", "r05", "r06", None, "blank"]
    assert [r["status"] for r in rows].count("skipped") == 2
    assert sum(r["status"] == "labeled" for r in rows) >= 5
    manifest = json.loads((namespace_run / "ray.manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["totals"]["requests"] == 6
    assert manifest["runner"]["ray"]["endpoints"][0].startswith("http://127.0.0.1:")
    assert not (namespace_run / "ray.jsonl.ray").exists()  # work files removed when done


def test_ray_with_embedded_model_per_actor_fills_the_cache_the_local_runner_reads(
    namespace_run: Path,
) -> None:
    found = _found(namespace_run)["embedded"]
    _same_rows(namespace_run / "emb-ray.jsonl", namespace_run / "emb-local.jsonl")
    assert found["ray"]["requests"] == 6 and found["ray"]["cache_hits"] == 0
    assert found["local"]["requests"] == 0 and found["local"]["cache_hits"] == 6
    assert found["ray"]["labels"] == found["local"]["labels"]
    assert found["ray"]["skipped_bad"] == found["local"]["skipped_bad"] == 2


def test_resume_keeps_finished_partitions(namespace_run: Path) -> None:
    found = _found(namespace_run)
    assert found["resumed"]["skipped_already_done"] == 3 and found["resumed"]["records"] == 8
    rows = _rows(namespace_run / "resumed.jsonl")
    assert [r["label"] for r in rows[:3]] == ["MARK"] * 3
    labeled = _rows(namespace_run / "emb-ray.jsonl")
    assert [r["label"] for r in rows[3:]] == [r["label"] for r in labeled[3:]]
    assert found["resumed"]["cache_hits"] == 3  # partitions 2 and 3 re-asked from the cache
    assert not found["resumed_work_left"]


def test_resume_retries_the_failed_rows_of_a_finished_output(namespace_run: Path) -> None:
    found = _found(namespace_run)["retried"]
    assert found["skipped_already_done"] == 7 and found["failed"] == 0
    assert found["cache_hits"] == 1 and found["requests"] == 0  # r02 alone, from the cache
    assert _rows(namespace_run / "retry.jsonl") == _rows(namespace_run / "emb-ray.jsonl")


@pytest.mark.skipif(not README_RAY, reason="the docs have no `--runner ray` example")
def test_readme_ray_example(namespace_run: Path) -> None:
    found = _found(namespace_run)["readme"]
    assert found["rc"] == 0, found["stderr"]
    output = shlex.split(README_RAY[0])
    rows = _rows(namespace_run / output[output.index("-o") + 1])
    assert rows and all(r["status"] == "labeled" for r in rows)


def test_bad_input_stops_before_ray_starts(tmp_path: Path) -> None:
    """A repeated id with on_error="fail": the driver's staging stops the run, no cluster."""
    data = _records(tmp_path / "in.jsonl")
    with pytest.raises(InputError, match="duplicate id 'r01'") as caught:
        api.label_on_ray(TASK, data, tmp_path / "out.jsonl", endpoints=["http://127.0.0.1:9/v1"])
    assert caught.value.where == f"{data}:7"
    assert "--on-error skip" in (caught.value.hint or "")
    assert not (tmp_path / "out.jsonl").exists()


def test_output_rules(tmp_path: Path) -> None:
    data = _records(tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    out.write_text("{}\n")
    with pytest.raises(OutputError, match="output exists"):
        api.label_on_ray(TASK, data, out, on_error="skip")
    with pytest.raises(OutputError, match="nothing to resume"):
        api.label_on_ray(TASK, data, out, on_error="skip", resume=True)
    work = tmp_path / "out.jsonl.ray"
    work.mkdir()
    (work / "plan.json").write_text(json.dumps({"input": str(data), "partition_rows": 5}))
    with pytest.raises(OutputError, match="was made for"):
        api.label_on_ray(TASK, data, out, on_error="skip", resume=True, partition_rows=3)


def _finished_parts(data: Path, out: Path, failed: set[str]) -> Path:
    """A work folder whose three partitions (of 3, 3 and 2 records) are all labeled, with the
    records in ``failed`` failed: resuming it needs no cluster unless they are retried."""
    parts = out.with_name(out.name + ".ray") / "parts"
    parts.mkdir(parents=True)
    (parts.parent / "plan.json").write_text(json.dumps({"input": str(data), "partition_rows": 3}))
    rows = []
    for record in read_records(data, keep_bad=True):
        if record.error is not None:
            rows.append({"id": None, "where": record.where, "status": "skipped"})
        elif record.id in failed:
            rows.append({"id": record.id, "status": "failed", "label": None, "error": "boom"})
        else:
            rows.append({"id": record.id, "status": "labeled", "label": "positive"})
    for part in range(3):
        chunk = rows[3 * part : 3 * part + 3]
        (parts / f"part-{part:06d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chunk))
    return parts


def test_resume_keeps_failed_rows_when_told_and_counts_them(tmp_path: Path) -> None:
    data = _records(tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    _finished_parts(data, out, failed={"r05"})
    options: dict[str, Any] = {"on_error": "skip", "partition_rows": 3, "resume": True}
    result = api.label_on_ray(TASK, data, out, retry_failed=False, **options)
    assert result.failed_kept == 1 and result.failed == 1  # the CLI exits 1 on it
    assert result.stats.skipped == 8 and result.stats.requests == 0  # all rows kept
    assert [r["status"] for r in _rows(out)].count("failed") == 1
    # Finished: resuming again has nothing to do while failed rows are to be kept.
    with pytest.raises(OutputError, match=r"output is complete .* 1 failed row\(s\) are kept"):
        api.label_on_ray(TASK, data, out, retry_failed=False, **options)


def test_resume_refuses_a_partition_that_is_not_its_records(tmp_path: Path) -> None:
    data = _records(tmp_path / "in.jsonl")
    out = tmp_path / "out.jsonl"
    parts = _finished_parts(data, out, failed=set())
    second = parts / "part-000001.jsonl"
    lines = second.read_text().splitlines(keepends=True)
    second.write_text(lines[0].replace('"r04"', '"zz9"') + "".join(lines[1:]))
    options: dict[str, Any] = {"on_error": "skip", "partition_rows": 3, "resume": True}
    with pytest.raises(OutputError, match="row id 'zz9' where the input has 'r04'") as caught:
        api.label_on_ray(TASK, data, out, **options)
    assert caught.value.where == f"{second}:1" and "--overwrite" in (caught.value.hint or "")
    second.write_text(lines[0] + lines[0] + lines[2])  # a repeated row
    with pytest.raises(OutputError, match="row id 'r04' where the input has 'r05'"):
        api.label_on_ray(TASK, data, out, **options)
    second.write_text(lines[0])  # rows missing
    with pytest.raises(OutputError, match="1 rows for a partition of 3 records"):
        api.label_on_ray(TASK, data, out, **options)
    assert not out.exists()


def test_records_travel_intact() -> None:
    bad = InputError("duplicate id 'a'", where="in.jsonl line 3", hint="ids must be unique")
    for record in (
        InputRecord("a", {"text": "ü", "n": [1, {"x": None}]}, "in.jsonl line 1"),
        InputRecord("a", {"text": "b"}, "in.jsonl line 3", bad),
    ):
        back = unpack(pack(record))
        assert (back.id, back.data, back.where) == (record.id, record.data, record.where)
        if record.error is not None:
            assert back.error is not None
            assert (back.error.message, back.error.where, back.error.hint) == (
                bad.message, bad.where, bad.hint
            )  # fmt: skip
