"""Accuracy of llmlabel against a gold set, for several shot counts × sample counts.

    python eval/gold.py --suite sst2 --limit 200 --shots 0,8 --samples 1,5
    python eval/gold.py --suite ag_news --sample-seed 0 --shots 8 --strategies random,semantic

A suite is a task file ``eval/tasks/<suite>.yaml`` plus gold files ``<gold dir>/<suite>/
test.jsonl`` (records scored) and ``dev.jsonl`` (few-shot examples), rows ``{id, text, label}``.
The gold dir is ``$LLMLABEL_GOLD_DIR``, else ``../shared/data/gold`` beside the repository; gold
data is read where it lies and never copied into the repository. A suite without a dev file
takes its examples from the test records that are not scored.

Each variant (shots × samples × few-shot strategy) labels the same ``--limit`` test records —
the first ones, or with ``--sample-seed`` a seeded random sample — through ``llmlabel.label``
and is joined with the gold labels by id. Every variant after the first is also compared with
the first on the same records: accuracy difference with a paired bootstrap interval, and the
exact McNemar test on the records where exactly one of the two is right. Abstained and
failed records count as wrong. Requests are cached (``--workdir``, default
``eval/results/raw/<suite>``, gitignored), so a rerun is cheap; the records/s column then
comes from the last run that asked the model for every record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import re
import shlex
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import llmlabel
from llmlabel.runs.stats import RunStats
from llmlabel.task import load

EVAL = Path(__file__).resolve().parent
REPO = EVAL.parent
TASKS = EVAL / "tasks"
RESULTS = EVAL / "results"
DEFAULT_GOLD = REPO.parent / "shared" / "data" / "gold"
Z95 = 1.959964


@dataclass
class Score:
    variant: str
    records: int
    correct: int
    abstained: int
    failed: int
    conf_right: float | None
    conf_wrong: float | None
    rate: float | None
    prompt_tokens: int
    right: dict[str, bool]
    """Gold id → whether this variant labeled it correctly."""
    output: Path
    """The variant's output file."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.records if self.records else 0.0


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95% by default)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


T = TypeVar("T")


def halves(items: Sequence[T], seed: int) -> tuple[list[T], list[T]]:
    """``items`` shuffled with ``seed`` and cut in two: the select half and the report half
    (the same split in every eval script that chooses on one half and reports the other)."""
    order = list(items)
    random.Random(seed).shuffle(order)
    cut = len(order) // 2
    return order[:cut], order[cut:]


def gold_dir() -> Path:
    return Path(os.environ.get("LLMLABEL_GOLD_DIR") or DEFAULT_GOLD)


def suites() -> list[str]:
    return sorted(p.stem for p in TASKS.glob("*.yaml"))


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def first(path: Path, limit: int) -> list[dict[str, Any]]:
    rows = []
    for row in read_jsonl(path):
        if len(rows) == limit:
            break
        rows.append(row)
    return rows


def scored_records(test: Path, limit: int, sample_seed: int | None) -> list[dict[str, Any]]:
    """The first ``limit`` test records, or ``limit`` drawn at random with ``sample_seed``
    (in file order)."""
    if sample_seed is None:
        return first(test, limit)
    rows = list(read_jsonl(test))
    chosen = sorted(random.Random(sample_seed).sample(range(len(rows)), min(limit, len(rows))))
    return [rows[i] for i in chosen]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def examples_file(suite_dir: Path, scored: set[str], tmp: Path) -> tuple[Path, str]:
    """The few-shot pool: ``dev.jsonl``, else the test records not scored (written to a
    temporary file outside the repository)."""
    dev = suite_dir / "dev.jsonl"
    if dev.is_file():
        return dev, "dev.jsonl"
    rest = [row for row in read_jsonl(suite_dir / "test.jsonl") if str(row["id"]) not in scored]
    pool = write_jsonl(tmp / "examples.jsonl", rest)
    return pool, f"the {len(rest)} test.jsonl records not scored (no dev split)"


def score(
    variant: str,
    gold: list[dict[str, Any]],
    output: Path,
    stats: RunStats,
    rate: float | None,
) -> Score:
    rows = {row["id"]: row for row in llmlabel.iter_output(output)}
    correct = abstained = failed = 0
    right: list[float] = []
    wrong: list[float] = []
    is_right: dict[str, bool] = {}
    for item in gold:
        row = rows.get(str(item["id"]))
        status = row["status"] if row is not None else "failed"
        is_right[str(item["id"])] = False
        if status == "abstained":
            abstained += 1
        elif status != "labeled" or row is None:
            failed += 1
        elif row["label"] == item["label"]:
            correct += 1
            right.append(row["confidence"])
            is_right[str(item["id"])] = True
        else:
            wrong.append(row["confidence"])
    return Score(
        variant=variant,
        records=len(gold),
        correct=correct,
        abstained=abstained,
        failed=failed,
        conf_right=sum(right) / len(right) if right else None,
        conf_wrong=sum(wrong) / len(wrong) if wrong else None,
        rate=rate,
        prompt_tokens=stats.usage.prompt_tokens,
        right=is_right,
        output=output,
    )


def run_variant(
    suite: str,
    shots: int,
    samples: int,
    strategy: str | None,
    args: argparse.Namespace,
    gold: list[dict[str, Any]],
    inputs: Path,
    examples: Path,
) -> Score:
    shown = f"{shots}-shot {strategy}" if shots and strategy else f"{shots}-shot"
    variant = f"{shown}, {samples} sample{'s' if samples > 1 else ''}"
    model_tag = re.sub(r"[^A-Za-z0-9._-]", "_", Path(args.model).name) if args.model else "task"
    tags = [model_tag, f"{shots}shot", f"{samples}s", str(args.limit)]
    if shots and strategy:
        tags.insert(2, strategy)
    if args.sample_seed is not None:
        tags.append(f"seed{args.sample_seed}")
    output = args.workdir / ("-".join(tags) + ".jsonl")
    overrides: dict[str, Any] = {"samples": samples, "examples.k": shots}
    if shots:
        overrides["examples.path"] = str(examples)
    if shots and strategy:
        overrides["examples.strategy"] = strategy
    if args.model:
        overrides["backend.model"] = args.model
    if args.base_url:
        overrides["backend.type"] = "openai_compat"
        overrides["backend.base_url"] = args.base_url
    if args.concurrency:
        overrides["concurrency"] = args.concurrency
    print(f"{variant}: labeling {len(gold)} records …", file=sys.stderr, flush=True)
    result = llmlabel.label(
        TASKS / f"{suite}.yaml",
        inputs,
        output,
        overwrite=True,
        limit=args.limit,
        cache=args.workdir / "requests.sqlite",
        overrides=overrides,
        on_row=_progress(variant, len(gold)),
    )
    stats = result.stats
    print(file=sys.stderr)
    return score(variant, gold, output, stats, _rate(output, stats))


def _rate(output: Path, stats: RunStats) -> float | None:
    """Records/s of this run if the model answered every request, else of the last such run."""
    sidecar = output.with_suffix(".timing.json")
    if stats.cache_hits == 0 and stats.requests > 0 and stats.seconds > 0:
        rate = stats.records / stats.seconds
        sidecar.write_text(json.dumps({"records_per_s": rate, "seconds": stats.seconds}))
        return rate
    if sidecar.is_file():
        return float(json.loads(sidecar.read_text())["records_per_s"])
    return None


def seconds_per_record(output: Path, stats: RunStats) -> float | None:
    """Model seconds per record of the run that wrote ``output``, if the model answered every
    request, else of the last such run (kept beside it); None when none did."""
    timing = output.with_suffix(".timing.json")
    if stats.cache_hits == 0 and stats.requests:
        timing.write_text(json.dumps({"seconds_per_record": stats.seconds / stats.records}))
    if not timing.is_file():
        return None
    return float(json.loads(timing.read_text())["seconds_per_record"])


def _progress(variant: str, total: int) -> Any:
    def on_row(stats: RunStats) -> None:
        if stats.done % 10 == 0 or stats.done == total:
            print(f"\r{variant}: {stats.done}/{total}", end="", file=sys.stderr, flush=True)

    return on_row


def table(scores: list[Score]) -> str:
    lines = [
        "| variant | accuracy (95% CI) | abstained / failed | mean conf. right / wrong "
        "| records/s | prompt tokens (per record) |",
        "|---|---|---|---|---|---|",
    ]
    for s in scores:
        low, high = wilson(s.correct, s.records)
        per_record = s.prompt_tokens / s.records if s.records else 0
        lines.append(
            f"| {s.variant} | {s.accuracy:.3f} ({low:.3f}–{high:.3f}), {s.correct}/{s.records} "
            f"| {s.abstained} / {s.failed} | {_num(s.conf_right)} / {_num(s.conf_wrong)} "
            f"| {_num(s.rate, 2)} | {s.prompt_tokens} ({per_record:.0f}) |"
        )
    return "\n".join(lines)


def paired(base: Score, other: Score, resamples: int = 2000, seed: int = 0) -> str:
    """One row comparing ``other`` with ``base`` on the same records."""
    ids = sorted(base.right)
    diffs = [int(other.right[i]) - int(base.right[i]) for i in ids]
    only_other = diffs.count(1)
    only_base = diffs.count(-1)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(resamples))
    low, high = means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]
    delta = sum(diffs) / len(diffs)
    return (
        f"| {other.variant} − {base.variant} | {delta:+.3f} ({low:+.3f} to {high:+.3f}) "
        f"| {only_base} / {only_other} | {mcnemar(only_base, only_other):.3g} |"
    )


def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: the discordant pairs against Binomial(b + c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_table(scores: list[Score]) -> str:
    if len(scores) < 2:
        return ""
    lines = [
        "| paired on the same records | accuracy difference (95% paired bootstrap CI) "
        "| right only in the first variant / only in this one | McNemar exact p |",
        "|---|---|---|---|",
    ]
    lines += [paired(scores[0], other) for other in scores[1:]]
    return "\n".join(lines)


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def report(suite: str, args: argparse.Namespace, scores: list[Score], pool: str) -> str:
    model = args.model or "the task file's model"
    where = f" via {args.base_url}" if args.base_url else ""
    command = "python eval/gold.py " + shlex.join(sys.argv[1:])
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    records = (
        f"the first {args.limit} records"
        if args.sample_seed is None
        else f"{args.limit} records drawn at random (seed {args.sample_seed})"
    )
    strategy = ", ".join(args.strategies) if args.strategies else "the task file's strategy"
    return "\n".join(
        [
            f"# {suite}: accuracy against gold",
            "",
            f"Task `eval/tasks/{suite}.yaml`, model {model}{where}; {records} "
            f"of `{suite}/test.jsonl`; few-shot examples from {pool} "
            f"({strategy}). Abstained and failed records count as wrong; confidence is the "
            "vote share of the winning label (always 1 with one sample).",
            "",
            table(scores),
            "",
            paired_table(scores),
            "",
            f"Command: `{command}`",
            "",
            f"Date: {date}",
            "",
        ]
    )


def parse_ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", required=True, choices=suites())
    parser.add_argument("--limit", type=int, default=200, help="test records scored")
    parser.add_argument("--shots", type=parse_ints, default=[0], help="e.g. 0,8")
    parser.add_argument("--samples", type=parse_ints, default=[1], help="e.g. 1,5")
    parser.add_argument(
        "--strategies",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        help="few-shot strategies to compare, e.g. random,label_balanced,semantic "
        "(default: the task file's)",
    )
    parser.add_argument(
        "--sample-seed", type=int, help="score a seeded random sample instead of the first records"
    )
    parser.add_argument("--model", help="backend.model: a registry name or a .gguf path")
    parser.add_argument("--base-url", help="use an OpenAI-compatible server at this /v1 URL")
    parser.add_argument("--concurrency", type=int, help="records in flight (default: task's)")
    parser.add_argument("--workdir", type=Path, help="outputs and request cache")
    parser.add_argument(
        "--out", type=Path, help="markdown report (default eval/results/<suite>.md)"
    )
    args = parser.parse_args(argv)
    suite = args.suite
    args.workdir = args.workdir or RESULTS / "raw" / suite
    out = args.out or RESULTS / f"{suite}.md"

    suite_dir = gold_dir() / suite
    test = suite_dir / "test.jsonl"
    if not test.is_file():
        raise SystemExit(f"error: no gold file {test} (set LLMLABEL_GOLD_DIR)")
    gold = scored_records(test, args.limit, args.sample_seed)
    labels = load(TASKS / f"{suite}.yaml").labels
    unknown = sorted({str(row["label"]) for row in gold} - set(labels))
    if unknown:
        raise SystemExit(f"error: gold labels {unknown} are not among the task's labels {labels}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmlabel-gold-") as tmp:
        inputs = write_jsonl(Path(tmp) / "scored.jsonl", gold)
        examples, pool = examples_file(suite_dir, {str(row["id"]) for row in gold}, Path(tmp))
        scores = [
            run_variant(suite, shots, samples, strategy, args, gold, inputs, examples)
            for shots in args.shots
            for samples in args.samples
            for strategy in ((args.strategies or [None]) if shots else [None])
        ]
    print(table(scores))
    print(paired_table(scores))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(suite, args, scores, pool), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
