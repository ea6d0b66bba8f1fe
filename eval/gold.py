"""Accuracy of llmlabel against a gold set, for several shot counts × sample counts.

    python eval/gold.py --suite sst2 --limit 200 --shots 0,8 --samples 1,5

A suite is a task file ``eval/tasks/<suite>.yaml`` plus gold files ``<gold dir>/<suite>/
test.jsonl`` (records scored) and ``dev.jsonl`` (few-shot examples), rows ``{id, text, label}``.
The gold dir is ``$LLMLABEL_GOLD_DIR``, else ``../shared/data/gold`` beside the repository; gold
data is read where it lies and never copied into the repository. A suite without a dev file
takes its examples from the test records after the ``--limit`` scored ones.

Each variant labels the first ``--limit`` test records through ``llmlabel.label`` and is joined
with the gold labels by id. Abstained and failed records count as wrong. Requests are cached
(``--workdir``, default ``eval/results/raw/<suite>``, gitignored), so a rerun is cheap; the
records/s column then comes from the last run that asked the model for every record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llmlabel
from llmlabel.runner import RunStats
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


def examples_file(suite_dir: Path, limit: int, tmp: Path) -> tuple[Path, str]:
    """The few-shot pool: ``dev.jsonl``, else the test records after the scored ones (written
    to a temporary file outside the repository)."""
    dev = suite_dir / "dev.jsonl"
    if dev.is_file():
        return dev, "dev.jsonl"
    tail = tmp / "examples.jsonl"
    with tail.open("w", encoding="utf-8") as fh:
        for i, row in enumerate(read_jsonl(suite_dir / "test.jsonl")):
            if i >= limit:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return tail, f"test.jsonl records after the first {limit} (no dev split)"


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
    for item in gold:
        row = rows.get(str(item["id"]))
        status = row["status"] if row is not None else "failed"
        if status == "abstained":
            abstained += 1
        elif status != "labeled" or row is None:
            failed += 1
        elif row["label"] == item["label"]:
            correct += 1
            right.append(row["confidence"])
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
    )


def run_variant(
    suite: str,
    shots: int,
    samples: int,
    args: argparse.Namespace,
    gold: list[dict[str, Any]],
    examples: Path,
) -> Score:
    variant = f"{shots}-shot, {samples} sample{'s' if samples > 1 else ''}"
    model_tag = re.sub(r"[^A-Za-z0-9._-]", "_", Path(args.model).name) if args.model else "task"
    output = args.workdir / f"{model_tag}-{shots}shot-{samples}s-{args.limit}.jsonl"
    overrides: dict[str, Any] = {"samples": samples, "examples.k": shots}
    if shots:
        overrides["examples.path"] = str(examples)
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
        gold_dir() / suite / "test.jsonl",
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


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def report(suite: str, args: argparse.Namespace, scores: list[Score], pool: str) -> str:
    model = args.model or "the task file's model"
    where = f" via {args.base_url}" if args.base_url else ""
    command = "python eval/gold.py " + shlex.join(sys.argv[1:])
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return "\n".join(
        [
            f"# {suite}: accuracy against gold",
            "",
            f"Task `eval/tasks/{suite}.yaml`, model {model}{where}; the first {args.limit} "
            f"records of `{suite}/test.jsonl`; few-shot examples from {pool} "
            "(`label_balanced`). Abstained and failed records count as wrong; confidence is the "
            "vote share of the winning label (always 1 with one sample).",
            "",
            table(scores),
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
    gold = first(test, args.limit)
    labels = load(TASKS / f"{suite}.yaml").labels
    unknown = sorted({str(row["label"]) for row in gold} - set(labels))
    if unknown:
        raise SystemExit(f"error: gold labels {unknown} are not among the task's labels {labels}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llmlabel-gold-") as tmp:
        examples, pool = examples_file(suite_dir, args.limit, Path(tmp))
        scores = [
            run_variant(suite, shots, samples, args, gold, examples)
            for shots in args.shots
            for samples in args.samples
        ]
    print(table(scores))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(suite, args, scores, pool), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
