"""Kill -9 a labeling run at random points, resume it each time, and check the result.

The real command line (``llmlabel run ... --resume``) labels the example reviews, repeated to
``--records``, through a llama.cpp server on 127.0.0.1 running SmolLM2-135M (one slot,
temperature 0, so answers do not depend on batching). Each run is killed with SIGKILL once the
output holds the next of ``--kills`` random row counts, then resumed; the last resume runs to
the end. Checks: the final output holds every input id exactly once, and its labels equal an
uninterrupted run's (its own cache). Before each resume the output's tail is inspected: a
partial last line left by a kill is counted (the sink cuts it off on ``--resume``; it is never
parsed as a row).

    python eval/bench/kill_resume.py --records 400 --kills 20 --out eval/results/kill_resume.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TASK = REPO / "examples" / "sentiment" / "task.yaml"
REVIEWS = REPO / "examples" / "sentiment" / "reviews.jsonl"


@dataclass
class Outcome:
    kills: int = 0
    partial_lines: int = 0
    """Kills that left a partial last line (cut off by the next ``--resume``)."""
    resumes: int = 0
    rows_at_kill: list[int] = field(default_factory=list)
    seconds: float = 0.0


def write_input(path: Path, records: int) -> list[str]:
    reviews = [json.loads(line) for line in REVIEWS.read_text(encoding="utf-8").splitlines()]
    ids = []
    with path.open("w", encoding="utf-8") as fh:
        for i in range(records):
            review = reviews[i % len(reviews)]
            rid = f"{review['id']}-{i // len(reviews)}"
            ids.append(rid)
            fh.write(json.dumps({"id": rid, "text": review["text"]}) + "\n")
    return ids


def command(data: Path, out: Path, cache: Path, url: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "llmlabel", "run", str(TASK), "-i", str(data), "-o", str(out),
        "--backend", "openai_compat", "--base-url", url, "--model", "smollm2",
        "--samples", "1", "--temperature", "0", "--concurrency", "2", "--cache", str(cache),
        *extra,
    ]  # fmt: skip


def lines_in(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def run_to_end(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}): {done.stderr.strip()}")


def kill_and_resume(base: list[str], out: Path, targets: list[int], timeout: float) -> Outcome:
    """Run ``base`` (with ``--resume`` after the first), SIGKILL it as soon as ``out`` holds
    each of ``targets`` rows in turn, then let a last resume finish."""
    outcome = Outcome()
    start = time.perf_counter()
    for target in sorted(targets):
        args = [*base, "--resume"] if outcome.kills else base
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while lines_in(out) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if proc.poll() is not None:  # finished (or failed) before the kill point
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"run failed ({proc.returncode}): {err.decode().strip()}")
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        outcome.kills += 1
        outcome.rows_at_kill.append(lines_in(out))
        tail = out.read_bytes()[-1:] if out.exists() else b""
        outcome.partial_lines += int(tail not in (b"", b"\n"))
    run_to_end([*base, "--resume"])
    outcome.resumes = outcome.kills
    outcome.seconds = time.perf_counter() - start
    return outcome


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check(ids: list[str], whole: Path, killed: Path) -> dict[str, Any]:
    final = rows(killed)
    got = [str(r["id"]) for r in final]
    expected = {r["id"]: r["label"] for r in rows(whole)}
    return {
        "rows": len(final),
        "ids_once_each": sorted(got) == sorted(ids),
        "duplicated": len(got) - len(set(got)),
        "missing": len(set(ids) - set(got)),
        "labels_differ": sum(1 for r in final if expected.get(r["id"]) != r["label"]),
        "statuses": sorted({r["status"] for r in final}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    from llmlabel import models
    from llmlabel.backends.llama_server import serve_http
    from llmlabel.core.settings import BackendSpec

    # one thread: two spin-waiting threads crawl when other jobs hold the cores
    spec = BackendSpec(model=str(models.pull(models.TEST_MODEL)), parallel=1, threads=1)
    rng = random.Random(args.seed)
    targets = sorted(rng.sample(range(1, args.records), args.kills))
    with tempfile.TemporaryDirectory() as tmp, serve_http(spec, host="127.0.0.1") as server:
        folder = Path(tmp)
        ids = write_input(folder / "in.jsonl", args.records)
        start = time.perf_counter()
        whole = folder / "whole.jsonl"
        run_to_end(command(folder / "in.jsonl", whole, folder / "a.db", server.base_url))
        uninterrupted = time.perf_counter() - start
        killed = folder / "killed.jsonl"
        base = command(folder / "in.jsonl", killed, folder / "b.db", server.base_url)
        outcome = kill_and_resume(base, killed, targets, timeout=600)
        result = check(ids, whole, killed)
    ok = result["ids_once_each"] and not result["labels_differ"]
    text = "\n".join(
        [
            "# Kill -9 and resume",
            "",
            f"`python eval/bench/kill_resume.py {shlex.join(sys.argv[1:])}` on "
            f"{platform.machine()}, Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d')}: `llmlabel run` (the CLI, a subprocess) labels "
            f"{args.records} records through SmolLM2-135M served by llama.cpp on 127.0.0.1 "
            "(one slot, temperature 0, concurrency 2), killed with SIGKILL at random row counts "
            "and resumed with `--resume` each time.",
            "",
            "| measure | value |",
            "|---|---|",
            f"| kills (SIGKILL) | {outcome.kills} |",
            f"| rows in the output at each kill | {', '.join(map(str, outcome.rows_at_kill))} |",
            f"| kills that left a partial last line (cut off on resume) | "
            f"{outcome.partial_lines} |",
            f"| final rows | {result['rows']} of {args.records} |",
            f"| every input id exactly once | {'yes' if result['ids_once_each'] else 'NO'} |",
            f"| duplicated / missing ids | {result['duplicated']} / {result['missing']} |",
            f"| labels that differ from the uninterrupted run | {result['labels_differ']} |",
            f"| statuses | {', '.join(result['statuses'])} |",
            f"| seconds: uninterrupted / killed and resumed | {uninterrupted:.1f} / "
            f"{outcome.seconds:.1f} |",
            "",
            f"All checks {'passed' if ok else 'FAILED'}.",
            "",
        ]
    )
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
