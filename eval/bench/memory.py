"""Memory while streaming a large input (target: RSS growth < 50 MB from 10k to 1M records).

    python eval/bench/memory.py --records 1000000

Writes ``--records`` short records to a temporary JSONL file, labels them through the instant
OpenAI-compatible endpoint (``eval/instant_server.py``, its own process, 127.0.0.1) with the
request cache off, and reads this process's resident set size (``VmRSS``) as rows are written.
The baseline is the RSS at 10,000 records (imports, client, template and buffers are warm by
then); the result is the growth from there to the end, and the peak.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import llmlabel
from llmlabel.core.spec import parse_task
from llmlabel.runs.stats import RunStats

EVAL = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(EVAL))
from instant_server import InstantServer  # noqa: E402

BASELINE_AT = 10_000
TASK = {
    "name": "bench-memory",
    "labels": {"positive": "satisfied", "negative": "dissatisfied"},
    "seed": 7,
    "concurrency": 16,
    "backend": {"type": "openai_compat", "model": "instant"},
}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def write_input(path: Path, records: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(records):
            fh.write(json.dumps({"id": f"record-{i:08d}", "text": f"Review {i}: works fine."}))
            fh.write("\n")


class Probe:
    """Samples RSS every ``every`` rows: the value at the baseline row, the peak, the last."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.baseline: float | None = None
        self.peak = 0.0
        self.points: list[tuple[int, float]] = []

    def __call__(self, stats: RunStats) -> None:
        done = stats.done
        if done % self.every and done != BASELINE_AT:
            return
        rss = rss_mb()
        self.peak = max(self.peak, rss)
        if done == BASELINE_AT:
            self.baseline = rss
        if done % self.every == 0:
            self.points.append((done, rss))
            print(f"{done:>9,} records: RSS {rss:.1f} MB", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=50_000, help="print RSS every N rows")
    parser.add_argument("--out", type=Path, default=EVAL / "results" / "bench_memory.md")
    args = parser.parse_args(argv)
    if args.records <= BASELINE_AT:
        raise SystemExit(f"--records must exceed the {BASELINE_AT:,}-record baseline")

    probe = Probe(args.every)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, InstantServer() as server:
        source, output = Path(tmp) / "input.jsonl", Path(tmp) / "output.jsonl"
        write_input(source, args.records)
        started = time.perf_counter()
        result = llmlabel.label(
            parse_task(TASK, source="bench-memory"),
            source,
            output,
            cache=False,
            overrides={"backend.base_url": server.url},
            on_row=probe,
        )
        seconds = time.perf_counter() - started
        final = rss_mb()
    stats = result.stats
    if stats.labeled != args.records:
        raise SystemExit(f"labeled {stats.labeled} of {args.records}: {stats.as_dict()}")
    assert probe.baseline is not None
    growth = max(probe.peak, final) - probe.baseline
    text = "\n".join(
        [
            "# Memory: streaming a large input",
            "",
            f"{args.records:,} records through the instant endpoint on 127.0.0.1, cache off, "
            f"concurrency {TASK['concurrency']}; RSS of the labeling process.",
            "",
            "| records written | RSS (MB) |",
            "|---|---|",
            *(f"| {done:,} | {rss:.1f} |" for done, rss in probe.points),
            "",
            f"**RSS at {BASELINE_AT:,} records: {probe.baseline:.1f} MB; peak {probe.peak:.1f} "
            f"MB; growth {growth:.1f} MB** (target < 50 MB) — "
            f"{'meets' if growth < 50 else 'misses'} the target. "
            f"{args.records / seconds:.0f} records/s.",
            "",
            f"Command: `python eval/bench/memory.py {shlex.join(sys.argv[1:])}`",
            "",
            f"Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}.",
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
