"""docs/measured.md's quality table: several gold suites, 0-shot vs 8-shot, every headline number.

    python eval/quality.py                      # the six suites below, 200 records each
    python eval/quality.py --suites trec --limit 50

For each suite, the same seeded sample of ``--limit`` test records (``--sample-seed``) is
labeled by the default embedded model (the task file's) with ``--samples`` votes per record,
once 0-shot and once with ``--shots`` examples (the task file's strategy; the pool is the suite's
dev split, else the test records not scored — see ``eval/gold.py``). Each output is scored by
``llmlabel.evaluate`` (accuracy with a bootstrap CI, macro-F1, ECE with 10 equal-width bins,
AUROC of confidence for "label is right", the coverage at which the kept labels reach 95%
accuracy on these records) and calibrated by ``llmlabel.calibrate`` (isotonic, fitted on half of
the records; ECE raw and calibrated are both measured on the other, held-out half).

Requests are cached under ``eval/results/raw/<suite>`` (gitignored), so an interrupted run
continues where it stopped; each suite's rows are written to ``--out`` as soon as they are done.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gold as harness  # eval/gold.py: suites, seeded samples, few-shot pools, labeling

import llmlabel

RESULTS = harness.RESULTS
SUITES = "sst2,ag_news,trec,sms_spam,tweet_eval_emotion,financial_phrasebank"


@dataclass(frozen=True)
class Row:
    suite: str
    variant: str
    records: int
    accuracy: tuple[float, float, float]
    macro_f1: float
    ece_all: float
    ece_raw: float
    ece_calibrated: float
    held_out: int
    auroc: float | None
    coverage_95: float | None
    records_per_s: float | None

    def cells(self) -> list[str]:
        value, low, high = self.accuracy
        return [
            self.suite,
            self.variant,
            f"{value:.3f} ({low:.3f}–{high:.3f})",
            f"{self.macro_f1:.3f}",
            f"{self.ece_all:.3f}",
            f"{self.ece_raw:.3f} → {self.ece_calibrated:.3f}",
            "—" if self.auroc is None else f"{self.auroc:.3f}",
            "none" if self.coverage_95 is None else f"{self.coverage_95:.0%}",
            "—" if self.records_per_s is None else f"{self.records_per_s:.2f}",
        ]


HEADER = [
    "suite",
    "variant",
    "accuracy (95% CI)",
    "macro-F1",
    "ECE",
    "ECE held-out: raw → calibrated",
    "AUROC",
    "coverage at ≥95% acc.",
    "records/s",
]


def measure(suite: str, shots: int, args: argparse.Namespace, tmp: Path) -> Row:
    suite_dir = harness.gold_dir() / suite
    gold = harness.scored_records(suite_dir / "test.jsonl", args.limit, args.sample_seed)
    inputs = harness.write_jsonl(tmp / f"{suite}.jsonl", gold)
    examples, _ = harness.examples_file(suite_dir, {str(row["id"]) for row in gold}, tmp)
    run_args = argparse.Namespace(
        model=args.model,
        base_url=None,
        concurrency=args.concurrency,
        workdir=RESULTS / "raw" / suite,
        limit=args.limit,
        sample_seed=args.sample_seed,
    )
    run_args.workdir.mkdir(parents=True, exist_ok=True)
    score = harness.run_variant(suite, shots, args.samples, None, run_args, gold, inputs, examples)
    output = score.output
    evaluated = llmlabel.evaluate(output, inputs, target_accuracy=0.95, seed=0).summary
    calibrated = llmlabel.calibrate(
        output, inputs, tmp / f"{suite}-{shots}.calib.json", method="isotonic", seed=0
    ).calibration.held_out
    point = evaluated.selective.point
    accuracy = evaluated.accuracy
    return Row(
        suite=suite,
        variant=score.variant,
        records=evaluated.records,
        accuracy=(accuracy.value, accuracy.low, accuracy.high),
        macro_f1=evaluated.metrics["macro_f1"].value,
        ece_all=next(c.ece for c in evaluated.calibration if c.binning == "equal_width"),
        ece_raw=calibrated.ece_before,
        ece_calibrated=calibrated.ece_after,
        held_out=calibrated.records,
        auroc=evaluated.auroc,
        coverage_95=point.coverage if point is not None else None,
        records_per_s=score.rate,
    )


def render(rows: list[Row], args: argparse.Namespace) -> str:
    command = "python eval/quality.py " + shlex.join(sys.argv[1:])
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    held = rows[0].held_out if rows else 0
    lines = [
        "# Quality on gold sets: 0-shot vs few-shot",
        "",
        f"Model: {args.model or 'the task files’ (the default embedded model)'}; "
        f"{args.limit} records per suite drawn at random (seed {args.sample_seed}) from each "
        f"suite's `test.jsonl`; {args.samples} samples per record (confidence = vote share); "
        f"{args.shots}-shot examples by the task file's strategy from the dev split (else the "
        "test records not scored).",
        "",
        "- accuracy: abstained and failed records count as wrong; 95% percentile bootstrap CI.",
        "- ECE: 10 equal-width bins over all records. Held-out ECE: an isotonic map fitted on "
        f"half of the records, ECE before → after on the other half ({held} records).",
        "- coverage at ≥95% acc.: the share of records kept by the lowest confidence threshold "
        "whose kept labels are ≥95% right on these records (in-sample; `llmlabel calibrate` "
        "gives the held-out guarantee).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(row.cells()) + " |" for row in rows),
        "",
        f"Command: `{command}`",
        "",
        f"Date: {date}",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default=SUITES, help="comma-separated suites")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--model", help="backend.model: a registry name or a .gguf path")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "quality.md")
    args = parser.parse_args(argv)
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    unknown = sorted(set(suites) - set(harness.suites()))
    if unknown:
        raise SystemExit(f"error: no task file eval/tasks/<suite>.yaml for {unknown}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="llmlabel-quality-") as tmp:
        for suite in suites:
            for shots in (0, args.shots):
                rows.append(measure(suite, shots, args, Path(tmp)))
                args.out.write_text(render(rows, args), encoding="utf-8")
                print("| " + " | ".join(rows[-1].cells()) + " |", flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
