"""Which confidence ranks errors: vote shares vs label probabilities from token logprobs.

    python eval/confidence.py                          # six suites, 200 records each
    python eval/confidence.py --suites sst2 --limit 40

For each suite, the same seeded sample of ``--limit`` test records is labeled 0-shot by the
suite's task file (default embedded model) twice, every request cached under
``eval/results/raw/confidence/<suite>``:

- ``logprob@1``: one greedy answer, ``confidence: logprob`` (the label distribution walked
  from the token logprobs, ``llmlabel.core.labelprobs``);
- ``s3``: three samples at temperature 0.7 with ``confidence: logprob``, whose rows carry both
  the votes and the logprob distribution.

Three content-free records (``N/A``, ``[MASK]``, an empty-looking one) go through the same runs;
their mean distribution is the label prior that contextual calibration divides out (Zhao et
al. 2021). The methods compared, each a label and a confidence per record:

- ``vote@3``: plurality of the three samples, confidence = vote share;
- ``logprob@1``: argmax of the logprob distribution, confidence = its probability;
- ``logprob+bc``: the same after dividing out the content-free prior (renormalised);
- ``vote@3+logprob``: the mean of the vote shares and the logprob distribution;
- ``vote@3+logprob+bc``: the mean of the vote shares and the bias-corrected distribution;
- ``varied@4``: ``vary_prompts: true`` with four samples: four greedy answers, each with the
  labels listed in its own seeded order (0-shot, so only the label order varies), confidence =
  the mean of their four logprob distributions;
- ``vote@10a``: adaptive self-consistency, at most ten samples at temperature 0.7
  (``adaptive:`` defaults: three first, then two at a time until the vote is settled),
  ``confidence: vote``, confidence = vote share.

``--methods`` computes only some of them (and runs only the labelings those need).
``--sampler top_k=40,top_p=0.95,min_p=0.05`` runs them under another sampler truncation (here
llama.cpp's own defaults) instead of the task's, which truncates nothing.

Metrics per method: accuracy (Wilson 95% CI), AUROC of confidence for "label is right", ECE (10
equal-width bins), held-out calibrated ECE (isotonic map fitted on a seeded half, measured on
the other), coverage at 95% accuracy with the threshold chosen on one half by the guarantee
procedure (``llmlabel.core.guarantee``, delta 0.1) and applied to the other (coverage and the
accuracy reached there), and model seconds per record of the run the method needs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gold as harness  # eval/gold.py: suites, seeded samples

import llmlabel
from llmlabel.core import calibration, guarantee, labelprobs, reliability
from llmlabel.core.metrics import Outcome
from llmlabel.task import load

RESULTS = harness.RESULTS
SUITES = "sst2,ag_news,trec,sms_spam,tweet_eval_emotion,financial_phrasebank"
CONTENT_FREE = labelprobs.CONTENT_FREE
METHODS = (
    "vote@3",
    "logprob@1",
    "logprob+bc",
    "vote@3+logprob",
    "vote@3+logprob+bc",
    "vote@10a",
    "varied@4",
)
ADAPTIVE = {"samples": 10, "adaptive": {}, "confidence": "vote"}
VARIED = {"vary_prompts": True}
Probs = dict[str, float]


@dataclass(frozen=True)
class Result:
    suite: str
    method: str
    records: int
    accuracy: tuple[float, float, float]
    auroc: float | None
    auroc_select: float | None
    auroc_report: float | None
    ece: float
    ece_calibrated: float
    coverage: float | None
    coverage_accuracy: float | None
    seconds: float | None

    def cells(self) -> list[str]:
        value, low, high = self.accuracy
        return [
            self.suite,
            self.method,
            f"{value:.3f} ({low:.3f}–{high:.3f})",
            _num(self.auroc_report),
            _num(self.auroc_select),
            _num(self.auroc),
            f"{self.ece:.3f}",
            f"{self.ece_calibrated:.3f}",
            "none" if self.coverage is None else f"{self.coverage:.0%}",
            _num(self.coverage_accuracy),
            _num(self.seconds, 2),
        ]


HEADER = [
    "suite",
    "method",
    "accuracy (95% CI)",
    "AUROC (report half)",
    "AUROC (select half)",
    "AUROC (all records)",
    "ECE raw",
    "ECE held-out calibrated",
    "coverage at 95% (held-out threshold)",
    "accuracy kept",
    "model s/record",
]


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def run(
    suite: str,
    samples: int,
    inputs: Path,
    args: argparse.Namespace,
    limit: int,
    extra: Mapping[str, Any] | None = None,
) -> tuple[dict[str, dict[str, Any]], float | None]:
    """Label ``inputs``; the rows by id and model seconds per record (None when cached)."""
    workdir = args.workdir / suite
    workdir.mkdir(parents=True, exist_ok=True)
    name = f"{samples}s" + ("-adaptive" if extra and "adaptive" in extra else "")
    name += "-varied" if extra and extra.get("vary_prompts") else ""
    name += "".join(f"-{key}{value}" for key, value in args.sampler.items())
    output = workdir / f"{args.tag}-{name}-{limit}-seed{args.sample_seed}.jsonl"
    overrides: dict[str, Any] = {
        "samples": samples,
        "confidence": "logprob",
        "examples.k": 0,
        "concurrency": args.concurrency,
        **(extra or {}),
    }
    if args.model:
        overrides["backend.model"] = args.model
    overrides |= {f"sampler.{key}": value for key, value in args.sampler.items()}
    print(f"{suite} {samples} sample(s): labeling …", file=sys.stderr, flush=True)
    result = llmlabel.label(
        harness.TASKS / f"{suite}.yaml",
        inputs,
        output,
        overwrite=True,
        cache=workdir / "requests.sqlite",
        overrides=overrides,
    )
    seconds = harness.seconds_per_record(output, result.stats)
    return {row["id"]: row for row in llmlabel.iter_output(output)}, seconds


def shares(row: Mapping[str, Any], labels: Sequence[str]) -> Probs:
    total = sum(row["votes"].values()) + len(row.get("invalid") or [])
    return {label: row["votes"].get(label, 0) / total for label in labels} if total else {}


def corrected(probs: Probs, prior: Probs) -> Probs:
    """Contextual calibration as ``bias_correction: content_free`` does it."""
    return labelprobs.debias(probs, prior)


def mean(a: Probs, b: Probs) -> Probs:
    return {label: (a.get(label, 0.0) + b.get(label, 0.0)) / 2 for label in a.keys() | b.keys()}


def pick(probs: Probs, labels: Sequence[str]) -> tuple[str | None, float]:
    if not probs:
        return None, 0.0
    best = max(labels, key=lambda label: (probs.get(label, 0.0), -labels.index(label)))
    return best, probs.get(best, 0.0)


def outcomes(
    gold: list[dict[str, Any]],
    rows: Mapping[str, dict[str, Any]],
    distribution: Callable[[dict[str, Any]], Probs],
    labels: Sequence[str],
) -> list[Outcome]:
    result = []
    for item in gold:
        row = rows.get(str(item["id"]))
        label, confidence = (None, 0.0)
        if row is not None and row["status"] == "labeled":
            label, confidence = pick(distribution(row), labels)
        result.append(
            Outcome(
                id=str(item["id"]),
                gold=item["label"],
                predicted=label,
                confidence=confidence,
                status="labeled" if label is not None else "failed",
            )
        )
    return result


def measure(
    suite: str, method: str, scored: list[Outcome], seconds: float | None, seed: int
) -> Result:
    right = sum(o.correct for o in scored)
    low, high = harness.wilson(right, len(scored))
    select, report = harness.halves(scored, seed)
    fitted = calibration.fit(
        "isotonic", [o.confidence for o in select], [o.correct for o in select]
    )
    mapped = [Outcome(o.id, o.gold, o.predicted, fitted(o.confidence), o.status) for o in report]
    chosen = guarantee.select_threshold(select, target=0.95, delta=0.1)
    coverage = kept_accuracy = None
    if chosen.threshold is not None:
        kept = [o for o in report if o.status == "labeled" and o.confidence >= chosen.threshold]
        coverage = len(kept) / len(report)
        kept_accuracy = sum(o.correct for o in kept) / len(kept) if kept else None
    return Result(
        suite=suite,
        method=method,
        records=len(scored),
        accuracy=(right / len(scored), low, high),
        auroc=reliability.auroc(scored),
        auroc_select=reliability.auroc(select),
        auroc_report=reliability.auroc(report),
        ece=reliability.ece(scored).ece,
        ece_calibrated=reliability.ece(mapped).ece,
        coverage=coverage,
        coverage_accuracy=kept_accuracy,
        seconds=seconds,
    )


def suite_inputs(
    suite: str, args: argparse.Namespace, tmp: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Path]:
    """The seeded gold records, the content-free records, and the input file holding both."""
    fields = load(harness.TASKS / f"{suite}.yaml").spec.fields
    gold = harness.scored_records(
        harness.gold_dir() / suite / "test.jsonl", args.limit, args.sample_seed
    )
    free = [
        {"id": f"content-free-{i}", **dict.fromkeys(fields, t)} for i, t in enumerate(CONTENT_FREE)
    ]
    return gold, free, harness.write_jsonl(tmp / f"{suite}.jsonl", [*free, *gold])


def suite_results(
    suite: str, args: argparse.Namespace, tmp: Path, votes: bool = True
) -> list[Result]:
    """Every method's result on ``suite``; ``votes=False``: only the one-sample methods."""
    labels = load(harness.TASKS / f"{suite}.yaml").labels
    gold, free, inputs = suite_inputs(suite, args, tmp)
    wanted = set(args.methods.split(","))
    Method = tuple[Mapping[str, dict[str, Any]], Callable[[dict[str, Any]], Probs], float | None]
    methods: dict[str, Method] = {}
    if votes and "vote@10a" in wanted:
        adaptive, adaptive_seconds = run(suite, 10, inputs, args, len(gold), ADAPTIVE)
        methods["vote@10a"] = (adaptive, lambda r: shares(r, labels), adaptive_seconds)
    if votes and "varied@4" in wanted:
        varied, varied_seconds = run(suite, 4, inputs, args, len(gold), VARIED)
        methods["varied@4"] = (varied, lambda r: dict(r.get("probs") or {}), varied_seconds)

    def logprob(row: dict[str, Any]) -> Probs:
        return dict(row.get("probs") or {})

    prior: Probs = {}
    if wanted & {"logprob@1", "logprob+bc", "vote@3+logprob+bc"}:
        one, one_seconds = run(suite, 1, inputs, args, len(gold))
        priors = [one[row["id"]]["probs"] for row in free if "probs" in one[row["id"]]]
        prior = {label: sum(p[label] for p in priors) / len(priors) for label in labels}
        print(f"{suite}: content-free prior {json.dumps(prior)}", file=sys.stderr)
        methods |= {
            "logprob@1": (one, logprob, one_seconds),
            "logprob+bc": (one, lambda r: corrected(logprob(r), prior), one_seconds),
        }
    if votes and wanted & {"vote@3", "vote@3+logprob", "vote@3+logprob+bc"}:
        three, three_seconds = run(suite, 3, inputs, args, len(gold))
        methods = {
            "vote@3": (three, lambda r: shares(r, labels), three_seconds),
            **methods,
            "vote@3+logprob": (
                three,
                lambda r: mean(shares(r, labels), logprob(r)),
                three_seconds,
            ),
            "vote@3+logprob+bc": (
                three,
                lambda r: mean(shares(r, labels), corrected(logprob(r), prior)),
                three_seconds,
            ),
        }
    return [
        measure_method(suite, m, gold, labels, args, *v) for m, v in methods.items() if m in wanted
    ]


def measure_method(
    suite: str,
    method: str,
    gold: list[dict[str, Any]],
    labels: Sequence[str],
    args: argparse.Namespace,
    rows: Mapping[str, dict[str, Any]],
    distribution: Callable[[dict[str, Any]], Probs],
    seconds: float | None,
) -> Result:
    scored = outcomes(gold, rows, distribution, labels)
    return measure(suite, method, scored, seconds, args.sample_seed)


def render(results: list[Result], args: argparse.Namespace) -> str:
    command = "python eval/confidence.py " + shlex.join(sys.argv[1:])
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    lines = [
        "# Confidence methods on gold sets",
        "",
        f"Model: {args.model or 'the task files’ (the default embedded model)'}; 0-shot; "
        f"{args.limit} records per suite drawn at random (seed {args.sample_seed}) from each "
        "suite's `test.jsonl`. Sampler: "
        + (", ".join(f"{k} {v}" for k, v in args.sampler.items()) or "the task's (no truncation)")
        + ". Methods and metrics: see the docstring of eval/confidence.py.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(r.cells()) + " |" for r in results),
        "",
        "## Means over the suites",
        "",
        "The default is chosen on the select half (mean AUROC, among methods within 1.5x the "
        "time of one sample) and reported on the other half, first.",
        "",
        "| method | mean AUROC (report half) | min AUROC (report half) | mean AUROC (select half) "
        "| mean AUROC (all records) | mean ECE calibrated | suites with coverage > 0 |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        rows = [r for r in results if r.method == method]
        aurocs = [r.auroc for r in rows if r.auroc is not None]
        select = [r.auroc_select for r in rows if r.auroc_select is not None]
        report = [r.auroc_report for r in rows if r.auroc_report is not None]
        if not rows:
            continue
        lines.append(
            f"| {method} | {_num(sum(report) / len(report) if report else None)} "
            f"| {_num(min(report) if report else None)} "
            f"| {_num(sum(select) / len(select) if select else None)} "
            f"| {_num(sum(aurocs) / len(aurocs) if aurocs else None)} "
            f"| {sum(r.ece_calibrated for r in rows) / len(rows):.3f} "
            f"| {sum(1 for r in rows if r.coverage)} of {len(rows)} |"
        )
    lines += ["", f"Command: `{command}`", "", f"Date: {date}", ""]
    return "\n".join(lines)


def _sampler(text: str) -> dict[str, float]:
    """``top_k=40,min_p=0.05`` -> ``{"top_k": 40, "min_p": 0.05}``."""
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    return {key.strip(): float(value) if "." in value else int(value) for key, value in pairs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default=SUITES)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--model", help="backend.model: a registry name or a .gguf path")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated, of: {', '.join(METHODS)}"
    )
    parser.add_argument("--tag", default="default", help="names the cached outputs")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--vote-suites", help="comma-separated suites that get the three-sample run (default: all)"
    )
    parser.add_argument(
        "--sampler",
        type=_sampler,
        default={},
        help="sampler overrides for every run, e.g. top_k=40,top_p=0.95,min_p=0.05 "
        "(llama.cpp's own defaults; default: the task's, no truncation)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "confidence.md")
    parser.add_argument(
        "--workdir", type=Path, default=RESULTS / "raw" / "confidence", help="outputs and cache"
    )
    args = parser.parse_args(argv)
    results: list[Result] = []
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    voted = suites if args.vote_suites is None else args.vote_suites.split(",")
    with tempfile.TemporaryDirectory(prefix="llmlabel-confidence-") as tmp:
        # The one-sample methods on every suite first (cheap), then the three-sample runs.
        passes = [(s, False) for s in suites] + [(s, True) for s in suites if s in voted]
        for suite, votes in passes:
            results = [r for r in results if r.suite != suite]
            results += suite_results(suite, args, Path(tmp), votes=votes)
            args.out.write_text(render(results, args), encoding="utf-8")
            for r in results:
                if r.suite == suite:
                    print("| " + " | ".join(r.cells()) + " |", flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
