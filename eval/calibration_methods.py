"""Which calibration map to fit on ~100 gold records: isotonic, Platt or temperature?

    python eval/bare.py                # first: the labeled outputs this script reads
    python eval/calibration_methods.py
    python eval/calibration_methods.py --outputs 'out/{suite}/labels.jsonl'

Reads, per suite, an output of llmlabel (default: eval/bare.py's ``today`` variant — the bare
task files with default settings, ``confidence: logprob``) and the suite's gold labels. The
records are split into the same seeded halves as eval/confidence.py:

- **choose** on the select half only: repeated 2-fold cross-validation (``--folds`` seeded
  splits) gives each method's held-out ECE there; the method with the lowest mean over the
  suites is the one to use;
- **report** on the other half: each map fitted on the whole select half, its ECE measured on
  the report half (also Brier and the log loss).

ECE (10 equal-width bins) on 100 records is noisy and biased upwards even for a perfectly
calibrated confidence, so each row also gives the *floor*: the mean ECE of outcomes drawn as
Bernoulli(confidence) at the report half's calibrated confidences (``--draws`` draws). A map
whose ECE sits at its floor is as calibrated as 100 records can show.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gold as harness  # eval/gold.py: suites, reading JSONL

from llmlabel.core import calibration, reliability
from llmlabel.core.metrics import Outcome

SUITES = "sst2,ag_news,trec,sms_spam,tweet_eval_emotion,financial_phrasebank"
OUTPUTS = str(harness.RESULTS / "raw" / "bare" / "{suite}" / "today-200-seed0.jsonl")
METHODS: tuple[str, ...] = ("none", "isotonic", "platt", "temperature")


@dataclass(frozen=True)
class Row:
    suite: str
    method: str
    cv_ece: float
    ece: float
    floor: float
    brier: float
    log_loss: float


def outcomes(suite: str, output: Path) -> list[Outcome]:
    """Every labeled row of ``output`` that has a gold label, in the gold file's order."""
    rows = {str(row["id"]): row for row in harness.read_jsonl(output)}
    return [
        Outcome(str(g["id"]), g["label"], row["label"], float(row["confidence"]))
        for g in harness.read_jsonl(harness.gold_dir() / suite / "test.jsonl")
        if (row := rows.get(str(g["id"]))) is not None and row["status"] == "labeled"
    ]


def mapped(method: str, fit_on: Sequence[Outcome], apply_to: Sequence[Outcome]) -> list[Outcome]:
    """``apply_to`` with confidences mapped by ``method`` fitted on ``fit_on``."""
    if method == "none":
        return list(apply_to)
    fitted = calibration.fit(
        method,  # type: ignore[arg-type]
        [o.confidence for o in fit_on],
        [o.correct for o in fit_on],
    )
    return [Outcome(o.id, o.gold, o.predicted, fitted(o.confidence)) for o in apply_to]


def cv_ece(method: str, items: list[Outcome], folds: int) -> float:
    """Mean held-out ECE over ``folds`` seeded 2-fold splits of ``items``."""
    values = []
    for seed in range(folds):
        a, b = harness.halves(items, 1000 + seed)
        values += [
            reliability.ece(mapped(method, a, b)).ece,
            reliability.ece(mapped(method, b, a)).ece,
        ]
    return sum(values) / len(values)


def floor(items: Sequence[Outcome], draws: int) -> float:
    """Mean ECE of Bernoulli(confidence) outcomes: what a calibrated confidence shows here."""
    rng = random.Random(0)
    total = 0.0
    for _ in range(draws):
        drawn = [
            Outcome(o.id, "y", "y" if rng.random() < o.confidence else "n", o.confidence)
            for o in items
        ]
        total += reliability.ece(drawn).ece
    return total / draws


def log_loss(items: Sequence[Outcome]) -> float:
    eps = 1e-6
    return -sum(
        math.log(min(max(o.confidence if o.correct else 1 - o.confidence, eps), 1.0)) for o in items
    ) / len(items)


def suite_rows(suite: str, output: Path, args: argparse.Namespace) -> list[Row]:
    select, report = harness.halves(outcomes(suite, output), args.sample_seed)
    rows = []
    for method in METHODS:
        measured = mapped(method, select, report)
        rows.append(
            Row(
                suite=suite,
                method=method,
                cv_ece=cv_ece(method, select, args.folds),
                ece=reliability.ece(measured).ece,
                floor=floor(measured, args.draws),
                brier=reliability.brier(measured),
                log_loss=log_loss(measured),
            )
        )
    return rows


def render(rows: list[Row], args: argparse.Namespace) -> str:
    means = {
        m: [r for r in rows if r.method == m] for m in METHODS if any(r.method == m for r in rows)
    }

    def avg(group: list[Row], field: str) -> float:
        return sum(getattr(r, field) for r in group) / len(group)

    chosen = min(means, key=lambda m: avg(means[m], "cv_ece"))
    command = "python eval/calibration_methods.py " + shlex.join(sys.argv[1:])
    lines = [
        "# Calibration maps on ~100 gold records",
        "",
        f"Outputs: `{args.outputs}`; halves seeded {args.sample_seed} as in eval/confidence.py. "
        "Methods and metrics: see the docstring of eval/calibration_methods.py.",
        "",
        f"**Chosen on the select halves (lowest mean cross-validated ECE): {chosen}.** "
        "Report-half numbers below; `none` is the raw confidence.",
        "",
        "| suite | map | ECE select-half CV | ECE report half | ECE floor (calibrated, "
        "this n) | Brier | log loss |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.suite} | {r.method} | {r.cv_ece:.3f} | {r.ece:.3f} | {r.floor:.3f} "
            f"| {r.brier:.3f} | {r.log_loss:.3f} |"
        )
    lines += [
        "",
        "## Means over the suites",
        "",
        "| map | ECE select-half CV | ECE report half | ECE floor | Brier | log loss |",
        "|---|---|---|---|---|---|",
    ]
    for m, group in means.items():
        lines.append(
            f"| {m} | {avg(group, 'cv_ece'):.3f} | {avg(group, 'ece'):.3f} "
            f"| {avg(group, 'floor'):.3f} | {avg(group, 'brier'):.3f} "
            f"| {avg(group, 'log_loss'):.3f} |"
        )
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    lines += ["", f"Command: `{command}`", "", f"Date: {date}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default=SUITES)
    parser.add_argument("--outputs", default=OUTPUTS, help="output path with a {suite} field")
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=20)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "calibration_methods.md")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    for suite in (s.strip() for s in args.suites.split(",") if s.strip()):
        output = Path(args.outputs.format(suite=suite))
        if not output.is_file():
            sys.exit(f"{output}: no such output (run eval/bare.py first, or pass --outputs)")
        rows += suite_rows(suite, output, args)
    args.out.write_text(render(rows, args), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
