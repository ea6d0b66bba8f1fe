"""How many records `llmlabel audit` flags are real label errors: plant flips, measure.

    python eval/audit_planted.py --suite sst2 --rate 0.1 --seeds 20 \\
        eval/results/raw/sst2/task-0shot-5s-200.jsonl eval/results/raw/sst2/task-8shot-5s-200.jsonl

For each predictions file (a run over gold records) and seed: take the gold labels of the
predicted records, flip ``--rate`` of them (seeded) to another label drawn at random, run the
audit (``llmlabel.api.audit``) on the noisy gold, and count how many flagged records are planted
flips (precision) and how many planted flips are flagged (recall). Flags on unplanted records
are false positives here, even where the original gold label may itself be wrong. Beside it, the
naive rule "flag every record where the model's label differs from the given one" on the same
noisy gold. Gold data is read where it lies; the noisy copies live in a temporary folder.
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
from pathlib import Path
from typing import Any

import llmlabel.api as api

EVAL = Path(__file__).resolve().parent
GOLD_DIR = EVAL.parent.parent / "shared" / "data" / "gold"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def plant(
    gold: dict[str, str], labels: list[str], rate: float, seed: int
) -> tuple[dict[str, str], set[str]]:
    """The gold labels with ``round(rate * n)`` of them flipped to another label (seeded)."""
    rng = random.Random(f"plant:{seed}")
    flipped = set(rng.sample(sorted(gold), round(rate * len(gold))))
    noisy = {
        i: rng.choice([k for k in labels if k != label]) if i in flipped else label
        for i, label in gold.items()
    }
    return noisy, flipped


def precision_recall(flagged: set[str], planted: set[str]) -> tuple[float, float]:
    hits = len(flagged & planted)
    return (hits / len(flagged) if flagged else 1.0), (hits / len(planted) if planted else 1.0)


def measure(
    predictions: Path, gold: dict[str, str], labels: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    rows = {str(r["id"]): r for r in read_jsonl(predictions)}
    gold = {i: label for i, label in gold.items() if i in rows}
    scores: dict[str, list[tuple[float, float, int]]] = {"audit": [], "disagreement": []}
    if args.threshold is not None:
        scores[f"audit, threshold {args.threshold:g}"] = []
    with tempfile.TemporaryDirectory(prefix="llmlabel-audit-") as tmp:
        for seed in range(args.seeds):
            noisy, planted = plant(gold, labels, args.rate, seed)
            path = Path(tmp) / "noisy.jsonl"
            path.write_text(
                "".join(json.dumps({"id": i, "label": k}) + "\n" for i, k in noisy.items())
            )
            runs = {"audit": None, f"audit, threshold {args.threshold:g}": args.threshold}
            for name, threshold in runs.items():
                if name not in scores:
                    continue
                result = api.audit(
                    predictions, path, Path(tmp) / "flagged.jsonl", threshold=threshold, force=True
                )
                flagged = {f.id for f in result.audit.flags}
                scores[name].append((*precision_recall(flagged, planted), len(flagged)))
            disagree = {
                i
                for i, row in rows.items()
                if i in noisy and row["status"] == "labeled" and row["label"] != noisy[i]
            }
            scores["disagreement"].append((*precision_recall(disagree, planted), len(disagree)))
    model_right = sum(
        rows[i]["status"] == "labeled" and rows[i]["label"] == gold[i] for i in gold
    ) / len(gold)
    return {"records": len(gold), "model_accuracy": model_right, "scores": scores}


def _spread(values: tuple[float, ...]) -> str:
    return f"{statistics.fmean(values):.3f} ± {statistics.pstdev(values):.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", type=Path, nargs="+")
    parser.add_argument("--suite", default="sst2")
    parser.add_argument("--rate", type=float, default=0.1, help="share of gold labels flipped")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=0.9, help="also a fixed threshold")
    parser.add_argument("--out", type=Path, default=EVAL / "results" / "audit.md")
    args = parser.parse_args(argv)
    gold_rows = read_jsonl(GOLD_DIR / args.suite / "test.jsonl")
    gold = {str(r["id"]): str(r["label"]) for r in gold_rows}
    labels = sorted(set(gold.values()))
    lines = [
        "# Audit: planted label flips found by `llmlabel audit`",
        "",
        f"Gold: `{args.suite}/test.jsonl`, the records each predictions file covers; "
        f"{args.rate:.0%} of their labels flipped to another label, {args.seeds} seeds. "
        "Precision: flagged records that are planted flips; recall: planted flips flagged "
        "(mean ± sd over seeds). `audit`: per-class thresholds (confident learning); "
        "`disagreement`: every record whose model label differs from the given one.",
        "",
        "| predictions | records | model accuracy (clean gold) | method | flagged | precision "
        "| recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for predictions in args.predictions:
        print(f"{predictions} …", file=sys.stderr, flush=True)
        m = measure(predictions, gold, labels, args)
        for name, runs in m["scores"].items():
            p, r, n = zip(*runs, strict=True)
            lines.append(
                f"| `{predictions.name}` | {m['records']} | {m['model_accuracy']:.3f} | {name} "
                f"| {statistics.fmean(n):.1f} | {_spread(p)} | {_spread(r)} |"
            )
    command = "python eval/audit_planted.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    lines += ["", f"Command: `{command}`", "", f"Date: {date}", ""]
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
