"""Label N records through a fault-injecting proxy and check that nothing is lost or repeated.

Two runs of ``llmlabel.label`` over the same input, both through ``fault_proxy.py`` in front of
the instant endpoint (``eval/instant_server.py``), each proxy in its own process:

1. fault-free: the proxy injects nothing (the baseline, measured in the same invocation);
2. faulty: ``--rate`` of all requests (retries and re-asks included) get a fault, seeded:
   429 + Retry-After, 500, 503, connection resets, stalls past the client timeout, truncated
   bodies, non-JSON bodies and answers that break the label schema.

The faulty output must hold every input id exactly once, each row labeled or, if not, with its
reason (``reason`` for an abstention, ``error`` for a failure), and the labels must equal the
fault-free run's. Prints the checks, the retries (requests beyond the fault-free run's) and the
time ratio faulty / fault-free; ``--out`` writes them as Markdown. Exits 1 if a check fails.

    python eval/bench/faults.py --records 10000 --rate 0.2 --seed 0 --out eval/results/faults.md
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from fault_proxy import KINDS, FaultProxy  # noqa: E402
from instant_server import InstantServer  # noqa: E402

import llmlabel  # noqa: E402
from llmlabel.core.spec import TaskSpec, parse_task  # noqa: E402

WORDS = ("great battery", "broke in a week", "fast delivery", "scratches easily", "as described")


@dataclass
class Run:
    seconds: float
    stats: dict[str, Any]
    proxy: dict[str, Any]
    rows: list[dict[str, Any]]


def make_task(concurrency: int, timeout: float) -> TaskSpec:
    return parse_task(
        {
            "name": "faults",
            "labels": ["positive", "negative"],
            "samples": 1,
            "seed": 7,
            "concurrency": concurrency,
            "backend": {"type": "openai_compat", "model": "instant", "timeout": timeout},
        },
        source="faults.py",
    )


def write_input(path: Path, records: int) -> list[str]:
    ids = [f"r{i}" for i in range(records)]
    with path.open("w", encoding="utf-8") as fh:
        for i, rid in enumerate(ids):
            text = f"Review {i}: {WORDS[i % len(WORDS)]}, {WORDS[(i * 3) % len(WORDS)]}."
            fh.write(json.dumps({"id": rid, "text": text}) + "\n")
    return ids


def label_through(
    upstream: str, rate: float, seed: int, task: TaskSpec, data: Path, out: Path
) -> Run:
    with FaultProxy(upstream, rate=rate, seed=seed) as proxy:
        start = time.perf_counter()
        result = llmlabel.label(
            task, data, out, overwrite=True, cache=False, overrides={"backend.base_url": proxy.url}
        )
        seconds = time.perf_counter() - start
        stats = proxy.stats()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return Run(seconds, result.stats.as_dict(), stats, rows)


def check(ids: list[str], clean: Run, faulty: Run) -> dict[str, Any]:
    """Every id once; every row labeled or saying why; the same labels as without faults."""
    counts = Counter(str(r["id"]) for r in faulty.rows)
    baseline = {r["id"]: r["label"] for r in clean.rows}
    unexplained = [
        r["id"]
        for r in faulty.rows
        if r["status"] != "labeled" and not (r.get("reason") or r.get("error"))
    ]
    differ = [
        r["id"] for r in faulty.rows if r["status"] == "labeled" and r["label"] != baseline[r["id"]]
    ]
    return {
        "missing": sorted(set(ids) - set(counts)),
        "duplicated": sorted(i for i, n in counts.items() if n > 1),
        "unexpected": sorted(set(counts) - set(ids)),
        "unexplained": unexplained,
        "labels_differ": differ,
        "clean_all_labeled": all(r["status"] == "labeled" for r in clean.rows)
        and len(clean.rows) == len(ids),
        "statuses": dict(Counter(r["status"] for r in faulty.rows)),
        "errors": dict(Counter(_kind_of(r) for r in faulty.rows if r["status"] != "labeled")),
    }


def _kind_of(row: dict[str, Any]) -> str:
    text = str(row.get("error") or row.get("reason") or "")
    return text.split(": ", 2)[-1][:70] if text else "?"


def passed(result: dict[str, Any]) -> bool:
    problems = ("missing", "duplicated", "unexpected", "unexplained", "labels_differ")
    return result["clean_all_labeled"] and not any(result[k] for k in problems)


def report(args: argparse.Namespace, clean: Run, faulty: Run, result: dict[str, Any]) -> str:
    ratio = faulty.seconds / clean.seconds
    extra = faulty.proxy["requests"] - clean.proxy["requests"]
    faults = faulty.proxy["faults"]
    lines = [
        "# Faults survived, nothing lost",
        "",
        f"`python eval/bench/faults.py {shlex.join(sys.argv[1:])}` on {platform.machine()}, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}. Both runs go through "
        "`eval/bench/fault_proxy.py` in front of `eval/instant_server.py` (127.0.0.1), "
        f"concurrency {args.concurrency}, backend timeout {args.timeout:g} s, "
        "6 attempts per request, no cache.",
        "",
        "| run | records | seconds | records/s | requests at the proxy | faults injected |",
        "|---|---|---|---|---|---|",
    ]
    for name, run in (("fault-free", clean), (f"{args.rate:.0%} faults", faulty)):
        lines.append(
            f"| {name} | {len(run.rows)} | {run.seconds:.1f} | {len(run.rows) / run.seconds:.0f} "
            f"| {run.proxy['requests']} | {run.proxy['faulted']} |"
        )
    lines += [
        "",
        f"**Time faulty / fault-free: {ratio:.2f}×.** Retries: {extra} requests beyond the "
        f"fault-free run's ({faulty.stats['reasks']} of them re-asks after a schema-breaking "
        f"answer, the rest transport retries).",
        "",
        "Faults by kind: " + ", ".join(f"{k} {faults.get(k, 0)}" for k in KINDS) + ".",
        "",
        "| check | result |",
        "|---|---|",
        f"| input ids missing from the output | {len(result['missing'])} |",
        f"| ids written more than once | {len(result['duplicated'])} |",
        f"| ids not in the input | {len(result['unexpected'])} |",
        f"| rows not labeled and without a reason | {len(result['unexplained'])} |",
        f"| labels that differ from the fault-free run | {len(result['labels_differ'])} |",
        f"| statuses | {', '.join(f'{k} {v}' for k, v in sorted(result['statuses'].items()))} |",
        "",
    ]
    if result["errors"]:
        lines += ["Rows not labeled, by reason:", ""]
        lines += [f"- {n} × `{why}`" for why, n in result["errors"].items()]
        lines.append("")
    lines.append(f"All checks {'passed' if passed(result) else 'FAILED'}.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=0.2, help="share of requests faulted")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=1.0, help="backend.timeout, seconds")
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    task = make_task(args.concurrency, args.timeout)
    with tempfile.TemporaryDirectory() as tmp, InstantServer() as upstream:
        folder = Path(tmp)
        ids = write_input(folder / "in.jsonl", args.records)
        base = f"http://127.0.0.1:{upstream.port}"
        clean = label_through(base, 0.0, args.seed, task, folder / "in.jsonl", folder / "a.jsonl")
        faulty = label_through(
            base, args.rate, args.seed, task, folder / "in.jsonl", folder / "b.jsonl"
        )
    result = check(ids, clean, faulty)
    text = report(args, clean, faulty, result)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    if not passed(result):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
