"""The run lifecycle through the real CLI against endpoints on 127.0.0.1: an output never
replaces a file the command reads; `--overwrite` changes nothing until the run has started;
exit codes and signals (Ctrl-C, SIGTERM); resume is a contract (the same settings, the input's
ids once each, failed rows labeled again)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clitools import one_line_error

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))

from instant_server import InstantServer  # noqa: E402

SENTIMENT = ROOT / "examples" / "sentiment"
TASK = SENTIMENT / "task.yaml"
REVIEWS = SENTIMENT / "reviews.jsonl"
ALL_IDS = sorted(json.loads(line)["id"] for line in REVIEWS.read_text().splitlines())


@pytest.fixture(scope="module")
def instant() -> Iterator[InstantServer]:
    with InstantServer() as server:
        yield server


@pytest.fixture(scope="module")
def slow() -> Iterator[InstantServer]:
    """Answers after 300 ms, so a run of the 40 reviews one at a time lasts 12 s: a signal sent
    after the third row lands mid-run even on a loaded machine."""
    with InstantServer(latency_ms=300) as server:
        yield server


def command(url: str, *args: str | Path) -> list[str]:
    return [
        sys.executable, "-m", "llmlabel", "run", *map(str, args),
        "--backend", "openai_compat", "--base-url", url, "--model", "instant",
    ]  # fmt: skip


def cli(*args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmlabel", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def run(url: str, *args: str | Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return cli(*command(url, *args)[3:], **kwargs)


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) by relative path, with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out.with_name(out.stem + ".manifest.json").read_text())
    return data


# --- 1. an output never replaces a file the command reads ---------------------------------------


@pytest.mark.parametrize("flag", ["--overwrite", "--resume"])
@pytest.mark.parametrize("spelling", ["same", "relative", "symlink", "cache"])
def test_run_refuses_to_write_over_its_input(
    tmp_path: Path, instant: InstantServer, spelling: str, flag: str
) -> None:
    shutil.copy(REVIEWS, tmp_path / "x.jsonl")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "x.jsonl")
    output, cache = {
        "same": ("x.jsonl", "c.db"),
        "relative": ("./sub/../x.jsonl", "c.db"),
        "symlink": ("link.jsonl", "c.db"),
        "cache": ("out.jsonl", "sub/../x.jsonl"),
    }[spelling]
    before = files(tmp_path)
    args = (TASK, "-i", "x.jsonl", "-o", output, "--cache", cache, flag)
    result = run(instant.url, *args, cwd=tmp_path)
    one_line_error(result, 2, "would replace --input x.jsonl", "new path")
    assert files(tmp_path) == before


@pytest.mark.parametrize("target", ["pred.jsonl", "in.jsonl"])
def test_export_refuses_to_write_over_its_inputs(tmp_path: Path, target: str) -> None:
    shutil.copy(SENTIMENT / "predictions.sample.jsonl", tmp_path / "pred.jsonl")
    shutil.copy(REVIEWS, tmp_path / "in.jsonl")
    before = files(tmp_path)
    result = cli(
        "export", "pred.jsonl", "-i", "in.jsonl", "-o", target, "--format", "jsonl",
        "--overwrite", cwd=tmp_path,
    )  # fmt: skip
    one_line_error(result, 2, "would replace", target)
    assert files(tmp_path) == before


def test_export_overwrite_replaces_only_an_earlier_export(tmp_path: Path) -> None:
    shutil.copy(SENTIMENT / "predictions.sample.jsonl", tmp_path / "pred.jsonl")
    shutil.copy(REVIEWS, tmp_path / "in.jsonl")
    (tmp_path / "notes.jsonl").write_text('{"mine": "precious"}\n')
    args = ("export", "pred.jsonl", "-i", "in.jsonl", "--format", "jsonl")
    refused = cli(*args, "-o", "notes.jsonl", "--overwrite", cwd=tmp_path)
    one_line_error(refused, 1, "notes.jsonl", "llmlabel export did not write", "earlier export")
    assert (tmp_path / "notes.jsonl").read_text() == '{"mine": "precious"}\n'
    assert cli(*args, "-o", "silver.jsonl", cwd=tmp_path).returncode == 0
    again = cli(*args, "-o", "silver.jsonl", "--overwrite", "--min-confidence", "1", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # an earlier export: its card is beside it


@pytest.mark.parametrize("command", ["calibrate", "audit"])
def test_other_commands_refuse_to_write_over_their_predictions(
    tmp_path: Path, command: str
) -> None:
    shutil.copy(SENTIMENT / "predictions.sample.jsonl", tmp_path / "pred.jsonl")
    shutil.copy(SENTIMENT / "reviews.gold.jsonl", tmp_path / "gold.jsonl")
    before = files(tmp_path)
    force = ["--force"] if command == "audit" else []
    result = cli(
        command, "pred.jsonl", "-g", "gold.jsonl", "-o", "pred.jsonl", *force, cwd=tmp_path
    )
    one_line_error(result, 2, "--output would replace PREDICTIONS pred.jsonl")
    assert files(tmp_path) == before


# --- 2. --overwrite changes nothing until the run has started -----------------------------------


@pytest.mark.parametrize("cause", ["unreachable server", "no API key", "cache", "input"])
def test_an_overwrite_that_cannot_start_changes_nothing(
    tmp_path: Path, instant: InstantServer, cause: str
) -> None:
    out = tmp_path / "out.jsonl"
    args = (TASK, "-i", REVIEWS, "-o", out, "--samples", "1")
    first = run(instant.url, *args, "--cache", tmp_path / "c.db")
    assert first.returncode == 0, first.stderr
    (tmp_path / "junk.db").write_text("not a database\n" * 100)
    url, extra = instant.url, ["--cache", tmp_path / "c.db"]
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    if cause == "unreachable server":  # and no cache, whose answers would need no server
        url, extra = "http://127.0.0.1:9/v1", ["--no-cache"]
    elif cause == "no API key":  # refused before any connection: no key for a remote server
        url = "https://api.example.invalid/v1"
    elif cause == "cache":
        extra = ["--cache", tmp_path / "junk.db"]
    before = files(tmp_path)
    source = tmp_path / "missing.jsonl" if cause == "input" else REVIEWS
    result = run(
        url, TASK, "-i", source, "-o", out, "--samples", "1", *extra, "--overwrite", env=env
    )
    assert result.returncode != 0 and result.stderr.startswith("error: "), result.stderr
    assert files(tmp_path) == before  # output, manifest and cache as they were; no temp file


def test_an_overwrite_replaces_the_output_and_its_manifest_once_started(
    tmp_path: Path, instant: InstantServer
) -> None:
    out = tmp_path / "out.jsonl"
    args = (TASK, "-i", REVIEWS, "-o", out, "--no-cache")
    assert run(instant.url, *args, "--samples", "1", "--limit", "5").returncode == 0
    again = run(instant.url, *args, "--samples", "3", "--overwrite")
    assert again.returncode == 0, again.stderr
    assert sorted(ids(out)) == ALL_IDS
    assert manifest(out)["status"] == "completed" and manifest(out)["task"]["samples"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.manifest.json"]


# --- 3. exit codes and signals -------------------------------------------------------------------


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_run_marks_it_interrupted_and_resume_finishes(
    tmp_path: Path, slow: InstantServer, stop: signal.Signals, code: int
) -> None:
    out = tmp_path / "out.jsonl"
    args = command(slow.url, TASK, "-i", REVIEWS, "-o", out, "--samples", "1", "--no-cache")
    args += ["--concurrency", "1"]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # as in a terminal: a background job (CI, nohup, `&`) inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while (not out.exists() or out.read_bytes().count(b"\n") < 3) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.02)
    proc.send_signal(stop)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    written = ids(out)
    assert 3 <= len(written) < len(ALL_IDS)
    assert (
        stderr.splitlines()[-1] == f"interrupted: {len(written)} rows written, rerun with --resume"
    )
    assert manifest(out)["status"] == "interrupted"
    assert manifest(out)["totals"]["labeled"] == len(written)
    resumed = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert ids(out)[: len(written)] == written and sorted(ids(out)) == ALL_IDS
    assert manifest(out)["status"] == "completed"


# --- 4. resume is a contract ---------------------------------------------------------------------


def test_resume_with_other_settings_is_refused(tmp_path: Path, instant: InstantServer) -> None:
    out = tmp_path / "out.jsonl"
    args = (TASK, "-i", REVIEWS, "-o", out, "--no-cache")
    assert run(instant.url, *args, "--samples", "1", "--limit", "10").returncode == 0
    before = files(tmp_path)
    other = run(instant.url, *args, "--samples", "3", "--resume")
    one_line_error(other, 2, "other settings", "task.samples", "--overwrite")
    server = run("http://127.0.0.1:9/v1", *args, "--samples", "1", "--resume")
    one_line_error(server, 2, "task.backend.base_url")
    assert files(tmp_path) == before
    same = run(instant.url, *args, "--samples", "1", "--concurrency", "2", "--resume")
    assert same.returncode == 0, same.stderr  # concurrency changes no label
    assert sorted(ids(out)) == ALL_IDS


def test_resume_after_a_few_shot_example_text_changed_is_refused(
    tmp_path: Path, instant: InstantServer
) -> None:
    task = tmp_path / "task" / "task.yaml"
    shutil.copytree(SENTIMENT, task.parent)
    (task.parent / "task.yaml").write_text(
        TASK.read_text().replace("../../schemas/", str(SENTIMENT.parent.parent / "schemas") + "/")
    )
    out = tmp_path / "out.jsonl"
    args = (task, "-i", REVIEWS, "-o", out, "--no-cache", "--samples", "1")
    assert run(instant.url, *args, "--limit", "5").returncode == 0
    examples = task.parent / "examples.jsonl"
    first, *rest = examples.read_text().splitlines()
    changed = json.loads(first)
    changed["text"] += " (edited)"
    examples.write_text("\n".join([json.dumps(changed), *rest]) + "\n")
    one_line_error(run(instant.url, *args, "--resume"), 2, "other settings", "examples")


@pytest.mark.parametrize("bad", ["repeated", "unknown"])
def test_resume_refuses_repeated_ids_and_ids_not_in_the_input(
    tmp_path: Path, instant: InstantServer, bad: str
) -> None:
    out = tmp_path / "out.jsonl"
    args = (TASK, "-i", REVIEWS, "-o", out, "--no-cache", "--samples", "1")
    assert run(instant.url, *args, "--limit", "5").returncode == 0
    row_id = ids(out)[1] if bad == "repeated" else "nope"
    with out.open("a") as fh:
        fh.write(json.dumps({"id": row_id, "status": "labeled"}) + "\n")
    before = files(tmp_path)
    needle = {
        "repeated": f"line 6 repeats id '{row_id}'",
        "unknown": "line 6 has id 'nope', which is not in the input",
    }[bad]
    one_line_error(run(instant.url, *args, "--resume"), 1, f"out.jsonl:6: {needle}")
    assert files(tmp_path) == before


def test_resume_labels_failed_rows_again_and_the_exit_code_says_while_any_is_failed(
    tmp_path: Path, instant: InstantServer
) -> None:
    out = tmp_path / "out.jsonl"
    args = (TASK, "-i", REVIEWS, "-o", out, "--no-cache", "--samples", "1")
    assert run(instant.url, *args).returncode == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    failed = {rows[3]["id"], rows[7]["id"]}
    for row in rows:
        if row["id"] in failed:
            row.update(status="failed", label=None, confidence=0.0, error="HTTP 500")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = files(tmp_path)
    kept = run(instant.url, *args, "--resume", "--no-retry-failed")
    one_line_error(kept, 1, "2 record(s) failed", "--resume")
    assert files(tmp_path)["out.jsonl"] == before["out.jsonl"]
    retried = run(instant.url, *args, "--resume")
    assert retried.returncode == 0, retried.stderr
    final = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in final) == ALL_IDS  # one row per id: the failed ones replaced
    assert {r["status"] for r in final} == {"labeled"}
    assert {r["id"] for r in final[-2:]} == failed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "out.manifest.json"]
