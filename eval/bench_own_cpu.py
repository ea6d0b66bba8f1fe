"""llmlabel's own CPU per record, without any transport: this checkout against another one.

    python eval/bench_own_cpu.py --against /tmp/old          # a `git worktree add` of a commit
    python eval/bench_own_cpu.py --records 2000 --rounds 3

``eval/bench_overhead.py`` measures llmlabel over HTTP, where the client library spends most of
a record's CPU and the machine's load moves every number. This isolates what llmlabel itself
does per record (render the prompt, build the request, parse and validate the answer, walk the
label trie, vote, build and write the row): ``llmlabel.label`` on ``--records`` records through
an in-process backend that answers at once, with the token logprobs a server gives (so the
default ``confidence: logprob`` path runs). Each side runs in its own subprocess with its own
``PYTHONPATH``, alternating, ``--rounds`` times; the number per run is process CPU time per
record (``time.process_time``). Reported: the median ms/record of each side and their ratio
(this checkout ÷ the other: above 1 is slower).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

TASK = {
    "name": "bench",
    "description": "Decide whether a review is positive or negative.",
    "labels": {"positive": "the reviewer is satisfied", "negative": "the reviewer is not"},
    "seed": 7,
}


class InstantBackend:
    """Answers every request at once, with each token's alternatives as llama.cpp gives them."""

    name = "instant"
    max_n = 4
    model_id = "instant"

    async def complete(self, request: Any) -> Any:
        from llmlabel.core.request import Completion, Sample, TokenLogprob, Usage

        good = "good" in request.messages[-1].content
        label, other = ("positive", "negative") if good else ("negative", "positive")
        tokens = (
            TokenLogprob(text='{"label": "', logprob=0.0),
            TokenLogprob(text=label, logprob=-0.1, top=((label, -0.1), (other, -2.4))),
            TokenLogprob(text='"}', logprob=0.0),
        )
        sample = Sample(text=json.dumps({"label": label}), tokens=tokens)
        return Completion(samples=(sample,) * request.n, usage=Usage(prompt_tokens=50))

    async def aclose(self) -> None:
        pass


def one_run(records: int) -> float:
    """CPU ms per record of one labeling run in this process (after a warm-up run)."""
    import llmlabel
    from llmlabel.core.spec import parse_task

    task = parse_task(TASK, source="bench_own_cpu")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.jsonl"
        lines = (
            json.dumps({"id": f"r{i}", "text": f"review {i} is {'good' if i % 2 else 'bad'}"})
            for i in range(records)
        )
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        warm = Path(tmp) / "warm.jsonl"
        llmlabel.label(task, source, warm, backend=InstantBackend(), cache=False, limit=200)
        started = time.process_time()
        result = llmlabel.label(
            task, source, Path(tmp) / "out.jsonl", backend=InstantBackend(), cache=False
        )
        took = time.process_time() - started
    if result.stats.labeled != records:
        raise SystemExit(f"labeled {result.stats.labeled} of {records}")
    return took * 1000 / records


def measure(checkout: Path, records: int) -> float:
    """``one_run`` in a subprocess importing llmlabel from ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, __file__, "--one", "--records", str(records)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout of llmlabel")
    parser.add_argument("--out", type=Path, help="also write the result as markdown here")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(f"{one_run(args.records):.4f}")
        return
    sides = {"this checkout": ROOT, **({"other": args.against} if args.against else {})}
    runs: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(args.rounds):
        for name, checkout in sides.items():
            runs[name].append(measure(checkout, args.records))
            print(f"round {round_ + 1} {name}: {runs[name][-1]:.3f} ms/record", flush=True)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    lines = [
        f"{name} ({sides[name]}, commit {commit(sides[name])}): median {m:.3f} CPU ms/record"
        for name, m in medians.items()
    ]
    if args.against:
        ratio = medians["this checkout"] / medians["other"]
        lines.append(f"ratio this checkout / other: {ratio:.2f}")
    print("\n".join(lines))
    if args.out:
        args.out.write_text(report(args, runs, lines), encoding="utf-8")


def commit(checkout: Path) -> str:
    """The checkout's commit, for the record (``?`` outside git)."""
    done = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "?"


def report(args: argparse.Namespace, runs: dict[str, list[float]], lines: list[str]) -> str:
    import llmlabel

    rows = [
        f"| {name} | " + " | ".join(f"{v:.3f}" for v in values) + " |"
        for name, values in runs.items()
    ]
    return "\n".join(
        [
            "# llmlabel's own CPU per record (no transport)",
            "",
            (__doc__ or "").split("\n\n", 2)[2].strip(),
            "",
            "| side | " + " | ".join(f"round {i + 1}" for i in range(args.rounds)) + " |",
            "|---|" + "---|" * args.rounds,
            *rows,
            "",
            *(f"- {line}" for line in lines),
            "",
            f"Command: `python eval/bench_own_cpu.py {' '.join(sys.argv[1:])}` — "
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; "
            f"llmlabel {llmlabel.__version__}, Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
