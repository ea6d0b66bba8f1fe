"""Re-running a finished job: model calls (must be 0) and records/s.

Labels ``--records`` review records through the instant endpoint (``eval/instant_server.py``, its
own process, 127.0.0.1) with a fresh SQLite request cache, then runs the same job twice more:

1. re-run: the finished output is kept and the job re-run with ``resume=True`` (what
   ``llmlabel run ... --resume`` does): every record is already done;
2. from cache: the output is deleted, the request cache kept: every record is labeled again, each
   answer from the cache.

Model calls are counted at the server (chat completions it answered), not by llmlabel. Both
re-runs must make 0 calls and write the same labels; the script exits 1 otherwise.

    python eval/bench/cache.py --records 100000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llmlabel
from llmlabel.core.spec import parse_task

EVAL = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(EVAL))
from benchkit import Clock, footer, write_input, write_report  # noqa: E402
from instant_server import InstantServer  # noqa: E402

TASK: dict[str, Any] = {
    "name": "bench-cache",
    "labels": {"positive": "satisfied", "negative": "dissatisfied"},
    "seed": 7,
    "concurrency": 16,
    "backend": {"type": "openai_compat", "model": "instant"},
}


@dataclass
class Run:
    name: str
    seconds: float
    model_calls: int
    stats: dict[str, Any]

    @property
    def rate(self) -> float:
        return self.stats["records"] / self.seconds


def run(
    name: str, server: InstantServer, source: Path, output: Path, cache: Path, resume: bool
) -> Run:
    before = server.completions()
    with Clock() as clock:
        result = llmlabel.label(
            parse_task(TASK, source="bench-cache"),
            source,
            output,
            resume=resume,
            cache=cache,
            overrides={"backend.base_url": server.url},
        )
    calls = server.completions() - before
    stats = result.stats.as_dict()
    print(
        f"{name}: {stats['records']:,} records in {clock.wall:.1f} s "
        f"({stats['records'] / clock.wall:,.0f} records/s), {calls} model calls, "
        f"{stats['cache_hits']:,} cache hits, {stats['skipped_already_done']:,} already done",
        flush=True,
    )
    return Run(name, clock.wall, calls, stats)


def labels(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return {row["id"]: row["label"] for row in map(json.loads, fh)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=EVAL / "results" / "bench_cache.md")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp, InstantServer() as server:
        folder = Path(tmp)
        source, output, cache = folder / "in.jsonl", folder / "out.jsonl", folder / "cache.sqlite"
        write_input(source, args.records)
        first = run("first run", server, source, output, cache, resume=False)
        expected = labels(output)
        rerun = run("re-run (--resume)", server, source, output, cache, resume=True)
        same_after_rerun = labels(output) == expected
        output.unlink()
        cached = run("from cache (output deleted)", server, source, output, cache, resume=False)
        same_from_cache = labels(output) == expected
        cache_mb = cache.stat().st_size / 1e6

    runs = (first, rerun, cached)
    ok = rerun.model_calls == 0 and cached.model_calls == 0 and same_after_rerun
    ok = ok and same_from_cache and len(expected) == args.records
    headline = (
        f"**Re-run: {rerun.model_calls} model calls, {rerun.rate:,.0f} records/s "
        f"({rerun.rate / first.rate:.1f}× the first run); output deleted, cache kept: "
        f"{cached.model_calls} model calls, {cached.rate:,.0f} records/s "
        f"({cached.rate / first.rate:.2f}× the first run).** Labels identical to the first "
        f"run's: {'yes' if same_after_rerun and same_from_cache else 'NO'}."
    )
    lines = [
        "# Cache: re-running a finished job",
        "",
        f"{args.records:,} records, 1 sample, concurrency {TASK['concurrency']}, instant endpoint "
        "(`eval/instant_server.py`, separate process) on 127.0.0.1; model calls counted at the "
        f"server. Request cache: a fresh SQLite file ({cache_mb:.0f} MB after the first run).",
        "",
        "| run | records/s | seconds | model calls | cache hits | rows already done |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r.name} | {r.rate:,.0f} | {r.seconds:.1f} | {r.model_calls:,} "
            f"| {r.stats['cache_hits']:,} | {r.stats['skipped_already_done']:,} |"
            for r in runs
        ),
        "",
        headline,
        "",
        *footer("eval/bench/cache.py"),
    ]
    write_report(args.out, lines)
    print(headline)
    if not ok:
        raise SystemExit("FAILED: a re-run called the model or changed a label")


if __name__ == "__main__":
    main()
