"""Label an example folder's records and score them against its gold file: a small, honest
check of the extraction and free-text kinds end to end (not a benchmark: a few records).

    python eval/example_kinds.py examples/invoices invoices --model smollm2-135m --samples 3
    python eval/example_kinds.py examples/summaries messages --model smollm2-135m --samples 3

Reads ``<folder>/task.yaml``, ``<folder>/<name>.jsonl`` and ``<folder>/<name>.gold.jsonl``;
writes the predictions to ``--predictions`` (default ``eval/results/raw/<name>.jsonl``) and
prints a Markdown summary (headline metrics, per-field table for extraction, timing). The
request cache (``--cache``) makes a rerun free. ``--timeout`` is the backend's per-request
limit: raise it on a busy machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import llmlabel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("name")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--predictions", type=Path)
    parser.add_argument("--cache", default="eval/results/raw/example_kinds.sqlite")
    args = parser.parse_args()

    predictions = args.predictions or Path("eval/results/raw") / f"{args.name}.jsonl"
    predictions.parent.mkdir(parents=True, exist_ok=True)
    overrides = {
        "backend.model": args.model,
        "samples": args.samples,
        "backend.timeout": args.timeout,
        "concurrency": 2,
    }
    started = time.monotonic()
    result = llmlabel.label(
        args.folder / "task.yaml",
        args.folder / f"{args.name}.jsonl",
        predictions,
        overwrite=True,
        overrides=overrides,
        cache=args.cache,
    )
    seconds = time.monotonic() - started
    summary = llmlabel.evaluate(predictions, args.folder / f"{args.name}.gold.jsonl").summary
    stats = result.stats
    print(f"### {args.folder.name}: {args.model}, {args.samples} samples, {stats.records} records")
    print()
    print(
        f"labeled {stats.labeled}, abstained {stats.abstained}, failed {stats.failed}; "
        f"{stats.requests} requests, {stats.cache_hits} cache hits, {stats.reasks} re-asks; "
        f"{seconds:.0f} s"
    )
    print()
    print("| metric | value (95% CI) |\n|---|---|")
    a = summary.accuracy
    print(f"| accuracy (exact match) | {a.value:.3f} ({a.low:.3f}–{a.high:.3f}) |")
    for name, interval in summary.metrics.items():
        print(f"| {name} | {interval.value:.3f} ({interval.low:.3f}–{interval.high:.3f}) |")
    print(f"| mean confidence | {stats.mean_confidence or 0.0:.3f} |")
    if summary.classes:
        print("\n| field | exact match (all records) | support |\n|---|---|---|")
        for c in summary.classes:
            print(f"| {c.label} | {c.recall:.3f} | {c.support} |")


if __name__ == "__main__":
    main()
