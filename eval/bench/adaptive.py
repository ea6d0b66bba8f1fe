"""Adaptive self-consistency vs a fixed sample budget, on a gold set (issue target: ≤ 40% of
the samples, accuracy within 0.5 points, ECE no worse by more than 0.01).

    python eval/bench/adaptive.py --suite sst2 --limit 200 --max 10

Both runs label the same seeded sample of ``--limit`` test records with the suite's task file
(``eval/tasks/<suite>.yaml``, 0-shot, temperature 0.7). The fixed run draws ``--max`` samples
per record in requests of ``n = --max-n``; the adaptive run (``samples: {max, adaptive: true,
min, batch, level}``) draws in the same numbered requests and stops each record once its vote
is settled. Because its requests are a prefix of the fixed run's, the shared request cache
answers them: the two runs compare the same samples, and the adaptive run costs no model calls
after the fixed one (the script checks this). Samples used is the share of the fixed run's
samples that the adaptive run needed to decide every record.

The gold dir is ``$LLMLABEL_GOLD_DIR``, else ``../shared/data/gold`` beside the repository.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shlex
import sys
from pathlib import Path
from typing import Any

import llmlabel
from llmlabel.core import reliability
from llmlabel.core.metrics import Outcome

EVAL = Path(__file__).resolve().parent.parent
REPO = EVAL.parent
DEFAULT_GOLD = REPO.parent / "shared" / "data" / "gold"


def gold_dir() -> Path:
    return Path(os.environ.get("LLMLABEL_GOLD_DIR", DEFAULT_GOLD))


def sample_records(path: Path, limit: int, seed: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    random.Random(seed).shuffle(rows)
    return rows[:limit]


def outcomes(output: Path, gold: dict[str, str]) -> tuple[list[Outcome], list[int]]:
    scored, used = [], []
    for line in output.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        labeled = row["status"] == "labeled"
        scored.append(
            Outcome(
                id=row["id"],
                gold=gold[row["id"]],
                predicted=row["label"] if labeled else None,
                confidence=row["confidence"] if labeled else 0.0,
                status=row["status"],
            )
        )
        used.append(row.get("samples_used", sum(row["votes"].values()) + len(row["invalid"])))
    return scored, used


def summarise(name: str, scored: list[Outcome], used: list[int]) -> dict[str, Any]:
    return {
        "variant": name,
        "records": len(scored),
        "accuracy": sum(o.correct for o in scored) / len(scored),
        "ece": reliability.ece(scored, 10, "equal_width").ece,
        "ece_mass": reliability.ece(scored, 10, "equal_mass").ece,
        "brier": reliability.brier(scored),
        "samples": sum(used),
    }


def run(
    task: Path, records: Path, output: Path, cache: Path, overrides: dict[str, Any]
) -> tuple[int, int]:
    result = llmlabel.label(task, records, output, cache=cache, overwrite=True, overrides=overrides)
    return result.stats.requests, result.stats.cache_hits


def report(args: argparse.Namespace, fixed: dict[str, Any], adaptive: dict[str, Any]) -> str:
    share = adaptive["samples"] / fixed["samples"]
    rows = [
        f"| {s['variant']} | {s['accuracy']:.3f} | {s['ece']:.3f} | {s['ece_mass']:.3f} "
        f"| {s['brier']:.3f} | {s['samples']} ({s['samples'] / s['records']:.2f}/record) |"
        for s in (fixed, adaptive)
    ]
    accuracy_gap = 100 * (adaptive["accuracy"] - fixed["accuracy"])
    ece_gap = adaptive["ece"] - fixed["ece"]
    verdict = "meets" if share <= 0.4 and accuracy_gap >= -0.5 and ece_gap <= 0.01 else "misses"
    return "\n".join(
        [
            f"# Adaptive self-consistency on {args.suite}",
            "",
            f"{fixed['records']} test records (seed {args.sample_seed}), 0-shot, "
            f"temperature 0.7, model `{args.model}`; fixed = {args.max} samples per record; "
            f"adaptive = `samples: {{max: {args.max}, adaptive: true, min: {args.min}, "
            f"batch: {args.batch}, level: {args.level}}}` over the same cached samples.",
            "",
            "| run | accuracy | ECE (equal width) | ECE (equal mass) | Brier | samples |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"**Samples used: {share:.1%} of the fixed budget; accuracy "
            f"{accuracy_gap:+.1f} points; ECE {ece_gap:+.3f}** — {verdict} the target "
            "(≤ 40% of the samples, accuracy within 0.5 points, ECE no worse by > 0.01).",
            "",
            f"Command: `python eval/bench/adaptive.py {shlex.join(sys.argv[1:])}`",
            "",
            f"Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="sst2")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--max", type=int, default=10)
    parser.add_argument("--min", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--level", type=float, default=0.9)
    parser.add_argument("--max-n", type=int, default=1, help="samples per request (both runs)")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    workdir = args.workdir or EVAL / "results" / "raw" / f"adaptive-{args.suite}"
    workdir.mkdir(parents=True, exist_ok=True)
    records = sample_records(gold_dir() / args.suite / "test.jsonl", args.limit, args.sample_seed)
    gold = {r["id"]: r["label"] for r in records}
    inputs = workdir / "records.jsonl"
    inputs.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    task, cache = EVAL / "tasks" / f"{args.suite}.yaml", workdir / "cache.sqlite"
    common = {
        "backend.model": args.model,
        "backend.max_n": args.max_n,
        "samples": args.max,
        "temperature": 0.7,
        "examples.k": 0,
    }
    calls, _ = run(task, inputs, workdir / "fixed.jsonl", cache, common)
    print(f"fixed run: {calls} model calls")
    adaptive = {
        **common,
        "adaptive.min": args.min,
        "adaptive.batch": args.batch,
        "adaptive.level": args.level,
    }
    calls, hits = run(task, inputs, workdir / "adaptive.jsonl", cache, adaptive)
    print(f"adaptive run: {calls} model calls, {hits} cache hits")
    if calls:
        raise SystemExit("the adaptive run asked the model: its requests should all be cached")

    fixed_summary = summarise("fixed", *outcomes(workdir / "fixed.jsonl", gold))
    adaptive_summary = summarise("adaptive", *outcomes(workdir / "adaptive.jsonl", gold))
    text = report(args, fixed_summary, adaptive_summary)
    out = args.out or EVAL / "results" / f"adaptive_{args.suite}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
