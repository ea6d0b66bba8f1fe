"""Reliability through the real CLI against endpoints on 127.0.0.1: an unwritable output and a
file-size limit hit mid-run end in one clear line with every row already written intact; an
API key never reaches any file or message; records are data, never templates; outputs are never
silently overwritten. (Faults on the wire: eval/bench/faults.py; kill -9: test_kill_resume.py.)"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmlabel
from llmlabel.task import load

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "eval"), str(ROOT / "eval" / "bench")]

from fault_proxy import FaultProxy  # noqa: E402
from instant_server import InstantServer  # noqa: E402

TASK = ROOT / "examples" / "sentiment" / "task.yaml"
REVIEWS = ROOT / "examples" / "sentiment" / "reviews.jsonl"
SSTI = ROOT / "tests" / "badinput" / "ssti.jsonl"
KEY = "sk-llmlabel-test-0123456789abcdefSECRET"


@pytest.fixture(scope="module")
def instant() -> Iterator[InstantServer]:
    with InstantServer() as server:
        yield server


def llmlabel_run(
    url: str, *args: str | Path, env: dict[str, str] | None = None, limit_bytes: int = 0
) -> subprocess.CompletedProcess[str]:
    def child() -> None:  # runs in the child before exec: the file-size limit is its own
        if limit_bytes:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    command = [sys.executable, "-m", "llmlabel", "run", *map(str, args)]
    command += ["--backend", "openai_compat", "--base-url", url, "--model", "instant"]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        preexec_fn=child,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "; hint: " in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_read_only_output_folder(tmp_path: Path, instant: InstantServer) -> None:
    if os.geteuid() == 0:  # root writes through permission bits; sysfs refuses even root
        out = Path("/sys/llmlabel-out.jsonl")
    else:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o555)
        out = folder / "out.jsonl"
    result = llmlabel_run(instant.url, TASK, "-i", REVIEWS, "-o", out, "--no-cache")
    one_line_error(result, str(out), "cannot write output")
    assert not out.exists()


def test_file_size_limit_mid_run_keeps_every_written_row(
    tmp_path: Path, instant: InstantServer
) -> None:
    out = tmp_path / "out.jsonl"
    args = (TASK, "-i", REVIEWS, "-o", out, "--no-cache", "--samples", "1")
    # the limit holds the manifest (it applies to every file) but not the 40 rows (~29 kB)
    full = llmlabel_run(instant.url, *args, limit_bytes=12000)
    one_line_error(full, str(out), "disk full?", "--resume")
    data = out.read_bytes()
    assert 0 < len(data) <= 12000 and data.endswith(b"\n")  # only whole rows
    written = ids(out)
    assert 0 < len(written) < 40
    resumed = llmlabel_run(instant.url, *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    final = ids(out)
    assert final[: len(written)] == written
    expected = [json.loads(line)["id"] for line in REVIEWS.read_text().splitlines()]
    assert sorted(final) == sorted(expected)


def test_api_key_is_never_written_or_shown(tmp_path: Path, instant: InstantServer) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(
        TASK.read_text(encoding="utf-8")
        .replace("schema: ../../schemas", "schema: " + str(ROOT / "schemas"))
        .replace(
            "path: examples.jsonl", f"path: {ROOT / 'examples' / 'sentiment' / 'examples.jsonl'}"
        )
        + "retries: {attempts: 1, reask: 1}\n",
        encoding="utf-8",
    )
    # a failing server: half the requests get HTTP 500, answers that break the schema, resets
    with FaultProxy(f"http://127.0.0.1:{instant.port}", rate=0.5, kinds=("500", "schema")) as proxy:
        result = llmlabel_run(
            proxy.url,
            task, "-i", REVIEWS, "-o", tmp_path / "out.jsonl", "--cache", tmp_path / "c.db",
            "--samples", "1",
            env={"OPENAI_API_KEY": KEY},
        )  # fmt: skip
    assert result.returncode == 1 and "failed" in result.stderr, result.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    assert {"out.jsonl", "out.manifest.json", "c.db"} <= set(written)
    for path in tmp_path.iterdir():
        assert KEY.encode() not in path.read_bytes(), path
        assert KEY[3:20].encode() not in path.read_bytes(), path
    assert KEY not in result.stderr + result.stdout


def test_template_injection_in_records_is_inert(instant: InstantServer, tmp_path: Path) -> None:
    prepared = load(TASK)
    for line in SSTI.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        messages, _ = prepared.messages_for(record["id"], record)
        assert record["text"] in messages[-1].content  # verbatim: never compiled or evaluated
    rows = llmlabel.label_records(
        TASK,
        [json.loads(line) for line in SSTI.read_text(encoding="utf-8").splitlines()],
        overrides={"backend.type": "openai_compat", "backend.base_url": instant.url,
                   "backend.model": "instant", "samples": 1},
        cache=False,
    )  # fmt: skip
    assert [r["status"] for r in rows] == ["labeled"] * 5


def test_an_existing_output_is_never_silently_replaced(
    tmp_path: Path, instant: InstantServer
) -> None:
    out = tmp_path / "out.jsonl"
    args = (TASK, "-i", REVIEWS, "-o", out, "--no-cache", "--samples", "1")
    assert llmlabel_run(instant.url, *args).returncode == 0
    before = out.read_bytes()
    one_line_error(llmlabel_run(instant.url, *args), "output exists", "--overwrite")
    assert out.read_bytes() == before


def test_faults_bench_loses_and_repeats_nothing(tmp_path: Path) -> None:
    """eval/bench/faults.py end to end, small: 30% of requests faulted, every check must pass."""
    report = tmp_path / "faults.md"
    args = ["--records", "150", "--rate", "0.3", "--seed", "3", "--out", str(report)]
    script = ROOT / "eval" / "bench" / "faults.py"
    result = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = report.read_text(encoding="utf-8")
    assert "All checks passed." in text and "| ids written more than once | 0 |" in text
