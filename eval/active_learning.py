"""The active-learning claim and the student, measured on AG News.

    nice -n 10 python eval/active_learning.py --model smollm2-135m --pool 1000 --heldout 1000
    nice -n 10 python eval/active_learning.py --suite sst2 \
        --predictions eval/results/raw/sst2/task-0shot-5s-200.jsonl --budgets 10,20,50

With ``--predictions`` the pool is an existing run over the suite's test records (steps 3-4
only; the held-out split is ``--heldout`` other test records drawn with ``--split-seed``).

1. Split ``ag_news/test.jsonl`` with ``--split-seed``: a pool of ``--pool`` records to label, a
   held-out gold split of ``--heldout`` other records for the student, and ``--examples-pool``
   further records the few-shot examples are drawn from. Gold data is read where it lies; the
   splits are written to a temporary folder outside the repository.
2. Label the pool with the embedded model (``eval/tasks/ag_news.yaml``, ``--shots`` shots,
   ``--samples`` samples at the task's default temperature). Requests are cached and the output
   kept under ``eval/results/raw/active_learning/`` (gitignored), so a rerun asks nothing.
3. Simulate review: for each budget and strategy (``core.review.choose``, as ``llmlabel
   review`` chooses) reveal the gold labels of the chosen records and measure the pool's label
   accuracy after review; ``random`` is averaged over ``--random-seeds`` seeds.
4. Train the student (``llmlabel.commands.distill``: sentence embeddings + logistic regression) on
   all silver labels, on confidence-filtered silver, and on the pool's gold labels (the
   ceiling), and score each on the held-out split.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shlex
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import llmlabel
from llmlabel.commands.distill import distill
from llmlabel.core.review import STRATEGIES, Candidate, choose
from llmlabel.runs.stats import RunStats

EVAL = Path(__file__).resolve().parent
REPO = EVAL.parent
TASK = EVAL / "tasks" / "ag_news.yaml"
RESULTS = EVAL / "results"
WORKDIR = RESULTS / "raw" / "active_learning"
GOLD = REPO.parent / "shared" / "data" / "gold" / "ag_news" / "test.jsonl"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def splits(
    gold: Path, pool: int, heldout: int, examples: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(pool, held-out, few-shot examples): disjoint parts of one seeded permutation, in
    permutation order. The held-out split and the examples come first, so they do not depend
    on ``pool``, and a smaller pool is a prefix of a larger one (a seeded sample itself)."""
    rows = list(read_jsonl(gold))
    order = random.Random(seed).sample(range(len(rows)), heldout + examples + pool)
    heldout_rows = [rows[i] for i in order[:heldout]]
    example_rows = [rows[i] for i in order[heldout : heldout + examples]]
    pool_rows = [rows[i] for i in order[heldout + examples :]]
    return pool_rows, heldout_rows, example_rows


def label_pool(args: argparse.Namespace, inputs: Path, examples: Path) -> Path:
    output = (
        WORKDIR / f"pool-{args.model}-{args.shots}shot-{args.samples}s-seed{args.split_seed}.jsonl"
    )
    overrides: dict[str, Any] = {
        "samples": args.samples,
        "examples.k": args.shots,
        "examples.path": str(examples),
        "backend.model": args.model,
        "concurrency": args.concurrency,
    }
    total = args.pool

    def progress(stats: RunStats) -> None:
        if stats.done % 20 == 0 or stats.done == total:
            print(f"\rlabeling the pool: {stats.done}/{total}", end="", file=sys.stderr, flush=True)

    resume = output.is_file()
    result = llmlabel.label(
        TASK,
        inputs,
        output,
        resume=resume,
        overwrite=not resume,
        cache=WORKDIR / "requests.sqlite",
        overrides=overrides,
        on_row=progress,
    )
    print(file=sys.stderr)
    stats = result.stats
    print(
        f"labeled {stats.labeled}, abstained {stats.abstained}, failed {stats.failed}, "
        f"{stats.seconds:.0f} s",
        file=sys.stderr,
    )
    return output


def candidate(row: dict[str, Any]) -> Candidate:
    votes = row.get("votes") or {}
    labeled = row["status"] == "labeled"
    return Candidate(
        id=str(row["id"]),
        label=row["label"] if labeled else None,
        confidence=float(row.get("confidence") or 0.0),
        votes=votes,
        valid=sum(votes.values()),
        invalid=len(row.get("invalid") or []),
        probs=row.get("probs") if row.get("confidence_method", "vote") != "vote" else None,
    )


def simulate(
    rows: list[dict[str, Any]], gold: dict[str, str], budgets: list[int], seeds: int
) -> list[dict[str, Any]]:
    """Per budget and strategy: pool label accuracy after people fix the chosen records."""
    right = {
        str(r["id"]): r["status"] == "labeled" and r["label"] == gold[str(r["id"])] for r in rows
    }
    candidates = [candidate(r) for r in rows]
    n = len(rows)
    before = sum(right.values()) / n
    results = []
    for budget in budgets:
        for strategy in STRATEGIES:
            if strategy == "committee":
                continue  # no per-member votes in these rows: it would equal entropy
            runs = range(seeds) if strategy == "random" else range(1)
            fixed = [
                sum(not right[c.id] for c in choose(candidates, strategy, budget, seed=s).chosen)
                for s in runs
            ]
            after = [(sum(right.values()) + f) / n for f in fixed]
            results.append(
                {
                    "budget": budget,
                    "strategy": strategy,
                    "before": before,
                    "after": statistics.fmean(after),
                    "after_sd": statistics.pstdev(after) if len(after) > 1 else 0.0,
                    "errors_found": statistics.fmean(fixed),
                    "errors": n - sum(right.values()),
                }
            )
    return results


def students(
    rows: list[dict[str, Any]],
    gold: dict[str, str],
    inputs: Path,
    heldout: Path,
    thresholds: list[float],
    review_budget: int,
    tmp: Path,
) -> list[tuple[str, int, Any]]:
    """(variant, silver records, DistillResult) for the students compared on held-out gold."""
    variants: list[tuple[str, Path, float | None]] = []
    predictions = write_jsonl(tmp / "silver.jsonl", rows)
    variants.append(("all silver", predictions, None))
    variants += [(f"silver, confidence >= {t:g}", predictions, t) for t in thresholds]
    chosen = {c.id for c in choose([candidate(r) for r in rows], "margin", review_budget).chosen}
    reviewed = [
        {**r, "status": "labeled", "label": gold[str(r["id"])], "confidence": 1.0}
        if str(r["id"]) in chosen
        else r
        for r in rows
    ]
    variants.append(
        (
            f"silver + {review_budget} reviewed by margin",
            write_jsonl(tmp / "reviewed.jsonl", reviewed),
            None,
        )
    )
    ceiling = [
        {**r, "status": "labeled", "label": gold[str(r["id"])], "confidence": 1.0} for r in rows
    ]
    variants.append(
        ("gold labels of the pool (ceiling)", write_jsonl(tmp / "gold.jsonl", ceiling), None)
    )
    results = []
    for name, path, threshold in variants:
        print(f"student: {name} …", file=sys.stderr, flush=True)
        result = distill(
            path,
            inputs,
            heldout,
            WORKDIR / "students" / name.replace(" ", "_").replace(">=", "ge").replace(",", ""),
            min_confidence=threshold,
        )
        results.append((name, result.silver, result))
    return results


def report(
    args: argparse.Namespace,
    source: str,
    pool: int,
    heldout: int,
    accuracy: float,
    review: list[dict[str, Any]],
    trained: list[tuple[str, int, Any]],
) -> str:
    command = "nice -n 10 python eval/active_learning.py " + shlex.join(sys.argv[1:])
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    lines = [
        "# Active learning and the student, measured",
        "",
        f"Pool: {source}; {pool} records, label accuracy {accuracy:.3f} before review "
        f"(abstained and failed rows count as wrong). Held-out gold for the students: {heldout} "
        "other records of the same test file, drawn with the split seed.",
        "",
        "## Label accuracy after review (gold labels revealed for the chosen records)",
        "",
        f"`random` is the mean (± sd) over {args.random_seeds} seeds. `committee` is left out: "
        "these rows carry no per-member votes, so it would equal `entropy`.",
        "",
        "| budget | strategy | accuracy after review | errors found (of all errors) |",
        "|---|---|---|---|",
    ]
    for r in review:
        sd = f" ± {r['after_sd']:.3f}" if r["strategy"] == "random" else ""
        lines.append(
            f"| {r['budget']} | {r['strategy']} | {r['after']:.3f}{sd} "
            f"| {r['errors_found']:.1f} of {r['errors']} |"
        )
    lines += [
        "",
        "## Student on held-out gold (MiniLM embeddings + logistic regression)",
        "",
        "| silver set | records | accuracy (95% CI) | macro-F1 |",
        "|---|---|---|---|",
    ]
    for name, silver, result in trained:
        a, f = result.accuracy, result.macro_f1
        lines.append(
            f"| {name} | {silver} | {a.value:.3f} ({a.low:.3f}–{a.high:.3f}) | {f.value:.3f} |"
        )
    lines += ["", f"Command: `{command}`", "", f"Date: {date}", ""]
    return "\n".join(lines)


def parse_list(text: str, kind: type) -> list[Any]:
    return [kind(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="ag_news", help="gold suite under the gold dir")
    parser.add_argument(
        "--predictions",
        type=Path,
        help="use this run over the suite's test records as the pool instead of labeling one",
    )
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--heldout", type=int, default=1000)
    parser.add_argument("--examples-pool", type=int, default=200)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--budgets", type=lambda t: parse_list(t, int), default=[50, 100, 200])
    parser.add_argument("--random-seeds", type=int, default=20)
    parser.add_argument("--thresholds", type=lambda t: parse_list(t, float), default=[0.7, 1.0])
    parser.add_argument("--label-only", action="store_true")
    parser.add_argument(
        "--labeled-only", action="store_true", help="use the pool rows labeled so far"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "active_learning.md")
    args = parser.parse_args(argv)
    WORKDIR.mkdir(parents=True, exist_ok=True)
    gold_file = GOLD.parent.parent / args.suite / "test.jsonl"
    with tempfile.TemporaryDirectory(prefix="llmlabel-al-") as tmp:
        if args.predictions is None:
            pool, heldout, examples = splits(
                gold_file, args.pool, args.heldout, args.examples_pool, args.split_seed
            )
            inputs = write_jsonl(Path(tmp) / "pool.jsonl", pool)
            if not args.labeled_only:
                predictions = label_pool(
                    args, inputs, write_jsonl(Path(tmp) / "ex.jsonl", examples)
                )
            else:
                predictions = WORKDIR / (
                    f"pool-{args.model}-{args.shots}shot-{args.samples}s-seed{args.split_seed}.jsonl"
                )
            if args.label_only:
                return
            source = (
                f"`{args.suite}/test.jsonl`, labeled by {args.model} ({args.shots}-shot "
                f"label_balanced, {args.samples} samples, the task's default temperature)"
            )
        else:
            predictions = args.predictions
            rows = list(read_jsonl(gold_file))
            predicted = {str(r["id"]) for r in read_jsonl(predictions)}
            pool = [r for r in rows if str(r["id"]) in predicted]
            rest = [r for r in rows if str(r["id"]) not in predicted]
            heldout = random.Random(args.split_seed).sample(rest, min(args.heldout, len(rest)))
            inputs = write_jsonl(Path(tmp) / "pool.jsonl", pool)
            source = f"`{predictions}` over `{args.suite}/test.jsonl`"
        gold = {str(r["id"]): str(r["label"]) for r in pool}
        rows = [r for r in read_jsonl(predictions) if str(r["id"]) in gold]
        gold = {i: gold[i] for i in (str(r["id"]) for r in rows)}
        accuracy = sum(
            r["status"] == "labeled" and r["label"] == gold[str(r["id"])] for r in rows
        ) / len(rows)
        review = simulate(rows, gold, [b for b in args.budgets if b < len(rows)], args.random_seeds)
        held = write_jsonl(Path(tmp) / "heldout.jsonl", heldout)
        budget = max([b for b in args.budgets if b < len(rows)], default=len(rows) // 4)
        trained = students(rows, gold, inputs, held, args.thresholds, budget, Path(tmp))
    text = report(args, source, len(rows), len(heldout), accuracy, review, trained)
    print(text)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
