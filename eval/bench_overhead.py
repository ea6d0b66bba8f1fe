"""How much throughput llmlabel costs over a bare ``openai`` client loop (target: ratio ≥ 0.9).

Both sides talk to the same instant endpoint (``eval/instant_server.py``, in its own process)
with the same requests: the messages the task renders, the same ``n``, ``response_format``
json_schema, seed, temperature and max_tokens, and the same concurrency.

- baseline: request bodies rendered beforehand, then an asyncio loop with a semaphore over
  ``openai.AsyncOpenAI(max_retries=0).chat.completions.create`` (what a hand-written labeling
  script does), parsing each answer's JSON; nothing written.
- raw baseline: the same loop posting the same bodies with the client's low-level
  ``client.post("/chat/completions", ...)``, which skips the SDK's per-call walk of the body
  against its TypedDicts. llmlabel's backend posts this way too, so llmlabel ÷ raw is the cost
  of llmlabel's own work (render, cache key, validate, vote, write), with the transport equal.
- llmlabel: ``llmlabel.label(task, input.jsonl, output.jsonl, cache=False, ...)`` end to end:
  read, render, request, validate, vote, write rows and the manifest.

Rounds alternate which side runs first; the reported ratio (llmlabel / baseline records/s) is
the median over rounds.

    python eval/bench_overhead.py --records 5000 --concurrency 16 --samples 1 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import json
import platform
import pstats
import shlex
import statistics
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletion

import llmlabel
from llmlabel.backends.openai_compat import DEFAULT_MAX_N
from llmlabel.core.spec import TaskSpec, parse_task
from llmlabel.task import PreparedTask, load

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import Clock, Timing, cores, installed, write_input
from instant_server import InstantServer

RESULTS = Path(__file__).resolve().parent / "results" / "bench_overhead.md"
MODEL = "instant"


@dataclass
class Round:
    index: int
    order: str
    baseline: Timing
    raw: Timing
    llmlabel: Timing

    @property
    def ratio(self) -> float:
        return self.llmlabel.rate / self.baseline.rate

    @property
    def raw_ratio(self) -> float:
        return self.llmlabel.rate / self.raw.rate

    @property
    def cpu_ratio(self) -> float:
        """Baseline CPU per record ÷ llmlabel's: the ratio a CPU-bound client would see."""
        return self.baseline.cpu_ms / self.llmlabel.cpu_ms


def make_task(samples: int) -> TaskSpec:
    return parse_task(
        {
            "name": "bench-sentiment",
            "description": "Decide whether a short customer review is positive or negative.",
            "labels": {
                "positive": "the reviewer is satisfied overall",
                "negative": "the reviewer is dissatisfied overall",
            },
            "samples": samples,
            "seed": 7,
            "backend": {"type": "openai_compat", "model": MODEL},
        },
        source="bench_overhead",
    )


def request_bodies(
    prepared: PreparedTask, rows: list[dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """Per record, the chat bodies llmlabel's openai_compat backend sends (one per round)."""
    samples = prepared.spec.samples
    plan = [
        (r, min(DEFAULT_MAX_N, samples - start))
        for r, start in enumerate(range(0, samples, DEFAULT_MAX_N))
    ]
    bodies = []
    for row in rows:
        messages, _ = prepared.messages_for(row["id"], row)
        per_record = []
        for round_, n in plan:
            request = prepared.request(messages, n, round_)
            body: dict[str, Any] = {
                "model": MODEL,
                "messages": request.messages_as_dicts(),
                "n": n,
                "temperature": request.temperature,
                "max_tokens": request.max_tokens,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": request.schema_name,
                        "schema": request.json_schema,
                        "strict": True,
                    },
                },
            }
            if request.seed is not None:
                body["seed"] = request.seed
            per_record.append(body)
        bodies.append(per_record)
    return bodies


async def _baseline(
    url: str, bodies: list[list[dict[str, Any]]], concurrency: int, raw: bool
) -> int:
    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0, timeout=120.0)
    semaphore = asyncio.Semaphore(concurrency)

    async def create(body: dict[str, Any]) -> ChatCompletion:
        if raw:
            return await client.post("/chat/completions", cast_to=ChatCompletion, body=body)
        return cast(ChatCompletion, await client.chat.completions.create(**body))

    async def one(record: list[dict[str, Any]]) -> list[Any]:
        async with semaphore:
            answers = []
            for body in record:
                response = await create(body)
                answers += [json.loads(c.message.content or "") for c in response.choices]
            return answers

    try:
        results = await asyncio.gather(*(one(record) for record in bodies))
    finally:
        await client.close()
    return len(results)


def run_baseline(
    url: str, bodies: list[list[dict[str, Any]]], concurrency: int, raw: bool = False
) -> Timing:
    with Clock() as clock:
        done = asyncio.run(_baseline(url, bodies, concurrency, raw))
    assert done == len(bodies)
    return clock.timing(done)


def run_llmlabel(
    task: TaskSpec,
    url: str,
    input_path: Path,
    output: Path,
    concurrency: int,
    limit: int | None = None,
) -> Timing:
    overrides = {
        "backend.type": "openai_compat",
        "backend.base_url": url,
        "backend.model": MODEL,
        "concurrency": concurrency,
    }
    with Clock() as clock:
        result = llmlabel.label(
            task, input_path, output, cache=False, overwrite=True, limit=limit, overrides=overrides
        )
    stats = result.stats
    if stats.labeled != stats.records:
        raise SystemExit(f"llmlabel labeled {stats.labeled} of {stats.records}: {stats.as_dict()}")
    return clock.timing(stats.records)


def profile_llmlabel(
    task: TaskSpec, url: str, input_path: Path, output: Path, concurrency: int, dest: Path
) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    run_llmlabel(task, url, input_path, output, concurrency)
    profiler.disable()
    profiler.dump_stats(dest)
    stats = pstats.Stats(profiler)
    print(f"\nprofile of one llmlabel run written to {dest}; top by own time:")
    stats.sort_stats("tottime").print_stats(25)
    print("top by cumulative time:")
    stats.sort_stats("cumulative").print_stats(40)


def report(args: argparse.Namespace, rounds: list[Round], median: float) -> str:
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("llmlabel", "openai", "httpx")
        if installed(name)
    )
    lines = [
        "# Overhead: llmlabel vs a bare openai client loop",
        "",
        f"{args.records} records, concurrency {args.concurrency}, samples {args.samples}, "
        "instant endpoint (`eval/instant_server.py`, separate process) on 127.0.0.1. "
        "Ratio = llmlabel records/s ÷ baseline records/s (target ≥ 0.9): the baseline is an "
        "asyncio loop over `openai`'s `chat.completions.create`. Raw ratio = llmlabel ÷ the same "
        "loop posting the same bodies through the client's low-level `post` (as llmlabel's "
        "backend does, skipping the SDK's per-call TypedDict walk of the body): the cost of "
        "llmlabel's own work with the transport equal.",
        "",
        "CPU ms/record is the client process's CPU time per record (less sensitive to other "
        "load on the machine than wall-clock rates); CPU ratio = baseline ÷ llmlabel CPU.",
        "",
        "| round | order | baseline rec/s | raw rec/s | llmlabel rec/s | ratio | raw ratio "
        "| baseline CPU ms/rec | raw CPU ms/rec | llmlabel CPU ms/rec | CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        b, w, o = r.baseline, r.raw, r.llmlabel
        lines.append(
            f"| {r.index} | {r.order} | {b.rate:.0f} | {w.rate:.0f} | {o.rate:.0f} "
            f"| {r.ratio:.2f} | {r.raw_ratio:.2f} "
            f"| {b.cpu_ms:.2f} | {w.cpu_ms:.2f} | {o.cpu_ms:.2f} | {r.cpu_ratio:.2f} |"
        )
    cpu_median = statistics.median(r.cpu_ratio for r in rounds)
    raw_median = statistics.median(r.raw_ratio for r in rounds)
    lines += [
        "",
        f"**Median ratio: {median:.2f}** (CPU ratio {cpu_median:.2f}); "
        f"**median raw ratio: {raw_median:.2f}**",
        "",
        f"Command: `python eval/bench_overhead.py {shlex.join(sys.argv[1:])}`",
        "",
        f"Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; "
        f"Python {platform.python_version()} on {platform.machine()} "
        f"({cores()} cores); {versions}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown report to write")
    parser.add_argument(
        "--profile", type=Path, default=None, help="also cProfile one llmlabel run into this file"
    )
    args = parser.parse_args(argv)

    task = make_task(args.samples)
    prepared = load(task)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp, InstantServer() as server:
        input_path, output = Path(tmp) / "input.jsonl", Path(tmp) / "output.jsonl"
        rows = write_input(input_path, args.records)
        bodies = request_bodies(prepared, rows)
        print(
            f"instant server at {server.url}; {args.records} records, "
            f"concurrency {args.concurrency}, samples {args.samples}"
        )
        warm = min(200, args.records)  # connection setup, template compile, first imports
        run_baseline(server.url, bodies[:warm], args.concurrency)
        run_baseline(server.url, bodies[:warm], args.concurrency, raw=True)
        run_llmlabel(task, server.url, input_path, output, args.concurrency, limit=warm)

        rounds: list[Round] = []
        for i in range(1, args.rounds + 1):
            first_baseline = i % 2 == 1
            if first_baseline:
                base = run_baseline(server.url, bodies, args.concurrency)
                raw = run_baseline(server.url, bodies, args.concurrency, raw=True)
                ours = run_llmlabel(task, server.url, input_path, output, args.concurrency)
            else:
                ours = run_llmlabel(task, server.url, input_path, output, args.concurrency)
                raw = run_baseline(server.url, bodies, args.concurrency, raw=True)
                base = run_baseline(server.url, bodies, args.concurrency)
            order = "baseline first" if first_baseline else "llmlabel first"
            rounds.append(Round(i, order, base, raw, ours))
            print(
                f"round {i} ({order}): baseline {base.rate:.0f} rec/s "
                f"({base.cpu_ms:.2f} CPU ms/rec), raw {raw.rate:.0f} rec/s "
                f"({raw.cpu_ms:.2f}), llmlabel {ours.rate:.0f} rec/s "
                f"({ours.cpu_ms:.2f} CPU ms/rec), ratio {rounds[-1].ratio:.2f}, "
                f"raw ratio {rounds[-1].raw_ratio:.2f}"
            )
        median = statistics.median(r.ratio for r in rounds)
        cpu_median = statistics.median(r.cpu_ratio for r in rounds)
        raw_median = statistics.median(r.raw_ratio for r in rounds)
        print(
            f"ratio llmlabel/baseline (median of {len(rounds)}): {median:.2f} "
            f"(CPU ratio {cpu_median:.2f}); llmlabel/raw: {raw_median:.2f}"
        )

        if args.profile is not None:
            profile_llmlabel(task, server.url, input_path, output, args.concurrency, args.profile)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(args, rounds, median), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
