"""What label probabilities cost: `confidence: logprob` against a plain one-sample vote run.

    python eval/bench/confidence_cost.py --suite trec --records 60 --rounds 2

Both runs label the same seeded test records of a gold suite 0-shot with the suite's task file
and the default embedded model, one sample, no cache, in this process, one model load shared
(the backend is built once and passed to both). Rounds alternate the order (vote first, then
logprob first) so that neither always meets a warm prompt cache. Prints seconds per record of
each and the ratio logprob / vote, plus the probe requests the label walk needed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import gold as harness

import llmlabel
from llmlabel.backends import make_backend
from llmlabel.task import load


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="trec")
    parser.add_argument("--records", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sample-seed", type=int, default=1)
    parser.add_argument("--model", help="backend.model (default: the task file's)")
    args = parser.parse_args(argv)
    task = harness.TASKS / f"{args.suite}.yaml"
    gold = harness.scored_records(
        harness.gold_dir() / args.suite / "test.jsonl", args.records, args.sample_seed
    )
    overrides = {"samples": 1, "examples.k": 0, "concurrency": 2}
    if args.model:
        overrides["backend.model"] = args.model
    backend = make_backend(load(task, overrides).spec)
    seconds: dict[str, float] = {"vote": 0.0, "logprob": 0.0}
    requests: dict[str, int] = {"vote": 0, "logprob": 0}
    with tempfile.TemporaryDirectory(prefix="llmlabel-cost-") as tmp:
        inputs = harness.write_jsonl(Path(tmp) / "in.jsonl", gold)
        for round_ in range(args.rounds):
            order = ("vote", "logprob") if round_ % 2 == 0 else ("logprob", "vote")
            for method in order:
                started = time.perf_counter()
                result = llmlabel.label(
                    task,
                    inputs,
                    Path(tmp) / f"{method}-{round_}.jsonl",
                    overwrite=True,
                    cache=False,
                    overrides={**overrides, "confidence": method},
                    backend=backend,
                )
                seconds[method] += time.perf_counter() - started
                requests[method] += result.stats.requests
    asyncio.run(backend.aclose())
    n = args.records * args.rounds
    vote, logprob = seconds["vote"] / n, seconds["logprob"] / n
    print(f"suite {args.suite}, {args.records} records x {args.rounds} rounds, one sample:")
    print(f"  vote:    {vote:.3f} s/record, {requests['vote'] / n:.2f} requests/record")
    print(f"  logprob: {logprob:.3f} s/record, {requests['logprob'] / n:.2f} requests/record")
    print(f"  ratio logprob / vote: {logprob / vote:.2f}x")


if __name__ == "__main__":
    main()
