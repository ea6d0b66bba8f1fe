"""Do item confidences rank wrong items? NER spans and multi-label labels, logprob vs votes.

    python eval/item_confidence.py                       # conll2003 + goemotions, 100 each
    python eval/item_confidence.py --suites conll2003 --limit 30

The same seeded sample of ``--limit`` test records of each suite is labeled 0-shot by its task
file in ``eval/tasks/`` (default embedded model), requests cached under
``eval/results/raw/item_confidence/<suite>``:

- ``logprob@1``: one greedy answer, ``confidence: logprob`` (the default): each item counts by
  the probability of its tokens (``llmlabel.core.labelprobs.item_probs``);
- (``vote@1``, one sample with ``confidence: vote``, gives every item 1.0: AUROC 0.5, not run;)
- ``vote@3``: three samples at temperature 0.7, ``confidence: vote``: an item's share of samples;
- ``walk@1`` (multi-label only): one greedy answer whose labels are chosen one by one
  (``label_lists: walk``): a label counts by its probability at its position.

Every predicted item (an entity ``(start, end, type)``; a label of the set) is right when gold
has it. Metrics: item precision, the AUROC of the item's confidence for "item is right" (0.5:
ranks nothing), and the precision of the items kept at confidence >= 0.5; per record, the AUROC
of the row's confidence for "the whole answer is right", and model seconds per record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gold as harness  # eval/gold.py: seeded samples
from sklearn.metrics import roc_auc_score

import llmlabel
from llmlabel.task import load

RESULTS = harness.RESULTS
SUITES = "conll2003,goemotions"
METHODS = {
    "logprob@1": {"samples": 1, "confidence": "logprob"},
    "vote@3": {"samples": 3, "confidence": "vote"},
    "walk@1": {"samples": 1, "confidence": "logprob", "label_lists": "walk"},
}
LISTS_ONLY = {"walk@1"}
"""Methods for label lists only (multi-label): elsewhere they are ``logprob@1`` again."""


@dataclass(frozen=True)
class Result:
    suite: str
    method: str
    items: int
    precision: float
    auroc: float | None
    kept: float
    kept_precision: float | None
    row_auroc: float | None
    seconds: float | None

    def cells(self) -> list[str]:
        return [
            self.suite,
            self.method,
            str(self.items),
            f"{self.precision:.3f}",
            _num(self.auroc),
            f"{self.kept:.3f}",
            _num(self.kept_precision),
            _num(self.row_auroc),
            _num(self.seconds, 2),
        ]


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def auroc(right: list[bool], scores: list[float]) -> float | None:
    return float(roc_auc_score(right, scores)) if 0 < sum(right) < len(right) else None


def gold_items(record: dict[str, Any]) -> set[Any]:
    if "entities" in record:
        return {(e["start"], e["end"], e["label"]) for e in record["entities"]}
    return set(record["labels"])


def row_items(row: dict[str, Any]) -> list[tuple[Any, float]]:
    """(item, confidence) for every predicted item of a row."""
    if row["provenance"]["kind"] == "ner":
        return [((e["start"], e["end"], e["label"]), e["confidence"]) for e in row["label"]]
    decided = row.get("label_confidence") or {}
    return [(label, decided.get(label, row["confidence"])) for label in row["label"]]


def run(
    suite: str, method: str, inputs: Path, args: argparse.Namespace
) -> tuple[Path, float | None]:
    """The method's output and its model seconds per record."""
    workdir = args.workdir / suite
    workdir.mkdir(parents=True, exist_ok=True)
    output: Path = workdir / f"{method}-{args.limit}-seed{args.sample_seed}.jsonl"
    overrides: dict[str, Any] = {**METHODS[method], "examples.k": 0}
    if args.model:
        overrides["backend.model"] = args.model
    print(f"{suite} {method}: labeling …", file=sys.stderr, flush=True)
    result = llmlabel.label(
        harness.TASKS / f"{suite}.yaml",
        inputs,
        output,
        overwrite=True,
        cache=workdir / "requests.sqlite",
        overrides=overrides,
    )
    return output, harness.seconds_per_record(output, result.stats)


def measure(
    suite: str, method: str, gold: list[dict[str, Any]], output: Path, seconds: float | None
) -> Result:
    rows = {str(r["id"]): r for r in llmlabel.iter_output(output)}
    right: list[bool] = []
    scores: list[float] = []
    row_right: list[bool] = []
    row_scores: list[float] = []
    for record in gold:
        row = rows.get(str(record["id"]))
        if row is None or row["status"] != "labeled":
            continue
        truth = gold_items(record)
        found = row_items(row)
        right += [item in truth for item, _ in found]
        scores += [score for _, score in found]
        row_right.append({item for item, _ in found} == truth)
        row_scores.append(row["confidence"])
    kept = [r for r, s in zip(right, scores, strict=True) if s >= 0.5]
    return Result(
        suite=suite,
        method=method,
        items=len(right),
        precision=sum(right) / len(right) if right else 0.0,
        auroc=auroc(right, scores),
        kept=len(kept) / len(right) if right else 0.0,
        kept_precision=sum(kept) / len(kept) if kept else None,
        row_auroc=auroc(row_right, row_scores),
        seconds=seconds,
    )


def render(results: list[Result], args: argparse.Namespace) -> str:
    command = "python eval/item_confidence.py " + shlex.join(sys.argv[1:])
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    header = [
        "suite", "method", "predicted items", "item precision", "item AUROC",
        "kept at ≥0.5", "precision kept", "row AUROC (answer all right)", "model s/record",
    ]  # fmt: skip
    return "\n".join(
        [
            "# Item confidences: NER spans and multi-label labels",
            "",
            f"Model: {args.model or 'the task files’ (the default embedded model)'}; 0-shot; "
            f"{args.limit} records per suite drawn at random (seed {args.sample_seed}). Methods "
            "and metrics: see the docstring of eval/item_confidence.py.",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(r.cells()) + " |" for r in results),
            "",
            f"Command: `{command}` — {date}.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default=SUITES)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--model", help="backend.model: a registry name or a .gguf path")
    parser.add_argument("--workdir", type=Path, default=RESULTS / "raw" / "item_confidence")
    parser.add_argument("--out", type=Path, default=RESULTS / "item_confidence.md")
    args = parser.parse_args(argv)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        for suite in args.suites.split(","):
            gold = harness.scored_records(
                harness.gold_dir() / suite / "test.jsonl", args.limit, args.sample_seed
            )
            inputs = harness.write_jsonl(Path(tmp) / f"{suite}.jsonl", gold)
            for method in METHODS:
                if (
                    method in LISTS_ONLY
                    and not load(harness.TASKS / f"{suite}.yaml").kind.walks_labels
                ):
                    continue
                output, seconds = run(suite, method, inputs, args)
                results.append(measure(suite, method, gold, output, seconds))
                args.out.write_text(render(results, args))
    print(f"→ {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
