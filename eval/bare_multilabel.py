"""Accuracy from a one-line task, multi-label: goemotions' bare task file (issue 19).

    python eval/bare_multilabel.py                       # 200 records
    python eval/bare_multilabel.py --limit 20

The multi-label side of ``eval/bare.py``: the bare task file ``eval/tasks/bare/goemotions.yaml``
(28 labels, ``kind: multi_label``) labels the same kind of seeded sample of ``--limit`` test
records, 0-shot, on the default embedded model. The variants, a label set per record:

- ``floor``: a bare prompt sent straight to the same model over HTTP (``serve_http``): the line,
  the label names, the text, "Answer with the labels that apply, comma-separated."; greedy, 48
  tokens; the set is every label name found in the answer (whole words, case-insensitive);
- ``today``: ``llmlabel.label`` on the bare task with every default (``label_lists: greedy``;
  the row's ``label``): the reference;
- ``walk``: ``label_lists: walk`` (each next label chosen by its exact probability at that
  position, the list ended where the model more likely closes it);
- ``describe``: ``describe_labels: true`` (the model first writes a line for each label);
- ``today@t``: today's ``probs`` (each label's probability of being in the set) cut at ``t``,
  ``t`` from 0.1..0.9 chosen by micro-F1 on the select half. With one greedy sample a label
  the answer did not name has probability 0, so this can only drop labels from today's set;
- ``shortlist8`` / ``shortlist12``: ``shortlist: {k: 8 | 12, embedder: minilm}``, each record
  asked among its k labels most similar to its text (``SHORTLISTS``);
  ``shortlist8+fallback`` also labels a record again among all labels when its weakest
  keep/drop decision is below 0.5 (``fallback_below: 0.5``); ``shortlist8+walk`` walks.

Every variant but ``walk`` and ``shortlist8+walk`` runs with ``label_lists: greedy`` (said
explicitly, so a change of default does not change what they measure).

Scored on the seeded ``report`` half (``select`` is where a default would be chosen): micro-F1,
macro-F1 (over the labels seen in gold or predicted) and exact-match accuracy
(``llmlabel.core.labelsets``); each variant's micro-F1 against ``today``'s with a paired
bootstrap 95% CI (records resampled, seed 0). Abstained and failed records predict the empty
set. Model seconds per record are wall time: the floor sends one request at a time, llmlabel
up to ``backend.parallel`` (4), so on a shared machine they compare only roughly. Requests are
cached under ``eval/results/raw/bare/goemotions``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bare  # eval/bare.py: the floor's cached requests, labeling the bare task
import gold as harness  # eval/gold.py: seeded samples and halves, the gold dir

from llmlabel.core import labelsets
from llmlabel.core.metrics import Outcome
from llmlabel.task import load

SUITE = "goemotions"
THRESHOLDS = [round(0.1 * i, 1) for i in range(1, 10)]
Sets = dict[str, frozenset[str]]


@dataclass(frozen=True)
class Variant:
    name: str
    predicted: Sets
    """Gold id -> the label set this variant gave."""
    seconds: float | None
    """Model seconds per record (None when every answer came from the cache)."""


GREEDY: dict[str, Any] = {"label_lists": "greedy"}
"""The default list decoding, which every variant but the walks pins."""

SHORTLISTS: dict[str, dict[str, Any]] = {
    "shortlist8": {"shortlist.k": 8, "shortlist.embedder": "minilm"},
    "shortlist12": {"shortlist.k": 12, "shortlist.embedder": "minilm"},
    "shortlist8+fallback": {
        "shortlist.k": 8,
        "shortlist.embedder": "minilm",
        "shortlist.fallback_below": 0.5,
    },
    "shortlist8+walk": {"shortlist.k": 8, "shortlist.embedder": "minilm", "label_lists": "walk"},
}
"""The shortlist (issue 19, many labels): each record asked among its ``k`` labels most
similar to its text (MiniLM), alone or labeled again among all labels when its weakest
keep/drop decision is below 0.5."""


def floor_prompt(description: str, labels: Sequence[str], text: str) -> str:
    return (
        f"{description}\n\nLabels: {', '.join(labels)}\n\nText: {text}\n\n"
        "Answer with the labels that apply, comma-separated."
    )


def named_labels(answer: str, labels: Sequence[str]) -> frozenset[str]:
    """Every label named in the answer as a whole word (case-insensitive)."""
    return frozenset(
        label for label in labels if re.search(rf"\b{re.escape(label)}\b", answer, re.IGNORECASE)
    )


def row_set(row: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(row.get("label") or []) if row["status"] == "labeled" else frozenset()


def cut(probs: Mapping[str, Mapping[str, float]], threshold: float) -> Sets:
    return {i: frozenset(k for k, p in d.items() if p >= threshold) for i, d in probs.items()}


def outcomes(predicted: Sets, gold: Sets, ids: Sequence[str]) -> list[Outcome]:
    return [Outcome(i, gold[i], predicted[i], confidence=0.0) for i in ids]


def micro_f1(predicted: Sets, gold: Sets, ids: Sequence[str]) -> float:
    return labelsets.micro_f1(outcomes(predicted, gold, ids))


def variants(
    gold_rows: list[dict[str, Any]], gold: Sets, args: argparse.Namespace
) -> list[Variant]:
    task = load(bare.TASKS / f"{SUITE}.yaml")
    labels, description = task.labels, task.spec.description or ""
    answers, floor_seconds = bare.floor_answers(
        SUITE, gold_rows, args, lambda text: floor_prompt(description, labels, text), 48
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows, _, seconds = bare.label_today(SUITE, gold_rows, args, Path(tmp), "today", GREEDY)
        walked, _, walk_seconds = bare.label_today(SUITE, gold_rows, args, Path(tmp), "walk")
        lines, _, lines_seconds = bare.label_today(SUITE, gold_rows, args, Path(tmp), "describe",
                                                   {**GREEDY, "describe_labels": True})  # fmt: skip
        shortlisted = {
            name: bare.label_today(SUITE, gold_rows, args, Path(tmp), name, {**GREEDY, **settings})
            for name, settings in SHORTLISTS.items()
        }
    select, _ = harness.halves(sorted(gold), args.sample_seed)
    probs = {i: rows[i].get("probs") or {} for i in gold}
    best = max(THRESHOLDS, key=lambda t: (micro_f1(cut(probs, t), gold, select), -t))
    return [
        Variant("floor", {i: named_labels(answers[i], labels) for i in gold}, floor_seconds),
        Variant("today", {i: row_set(rows[i]) for i in gold}, seconds),
        Variant("walk", {i: row_set(walked[i]) for i in gold}, walk_seconds),
        Variant("describe", {i: row_set(lines[i]) for i in gold}, lines_seconds),
        Variant(f"today@{best}", cut(probs, best), seconds),
        *(
            Variant(name, {i: row_set(rows[i]) for i in gold}, took)
            for name, (rows, _, took) in shortlisted.items()
        ),
    ]


def paired_micro(base: Variant, other: Variant, gold: Sets, ids: Sequence[str]) -> str:
    """Δ micro-F1 (other - base) with a paired bootstrap 95% CI, records resampled."""
    rng = random.Random(0)
    diffs = []
    for _ in range(2000):
        drawn = rng.choices(ids, k=len(ids))
        diffs.append(micro_f1(other.predicted, gold, drawn) - micro_f1(base.predicted, gold, drawn))
    diffs.sort()
    point = micro_f1(other.predicted, gold, ids) - micro_f1(base.predicted, gold, ids)
    return f"{point:+.3f} ({diffs[50]:+.3f} to {diffs[1949]:+.3f})"


def label_use(variant: Variant, gold: Sets, ids: Sequence[str]) -> str:
    sizes = [len(variant.predicted[i]) for i in ids]
    empty = sum(not s for s in sizes)
    neutral = sum("neutral" in variant.predicted[i] for i in ids)
    top = Counter(k for i in ids for k in variant.predicted[i]).most_common(3)
    shown = ", ".join(f"{k} {n}" for k, n in top) or "—"
    return f"| {variant.name} | {sum(sizes) / len(ids):.2f} | {empty} | {neutral} | {shown} |"


def render(results: list[Variant], gold: Sets, args: argparse.Namespace, elapsed: float) -> str:
    ids = sorted(gold)
    select, report = harness.halves(ids, args.sample_seed)
    today = next(v for v in results if v.name == "today")
    lines = [
        "# Accuracy from a one-line task: goemotions (multi-label, 28 labels)",
        "",
        f"Model: {args.model or 'the default embedded model'}; 0-shot; {args.limit} records "
        f"drawn at random (seed {args.sample_seed}) from `goemotions/test.jsonl`; task file "
        "`eval/tasks/bare/goemotions.yaml` (name, one line, label names). Variants: see the "
        "docstring of eval/bare_multilabel.py. `report` is the seeded half kept for reporting "
        f"({len(report)} records); `select` the half a default is chosen on ({len(select)}).",
        "",
        "| variant | micro-F1 report | vs today: Δ micro-F1 (paired 95% CI) | macro-F1 report "
        "| exact match report | micro-F1 select | model s/record |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in results:
        scored = outcomes(v.predicted, gold, report)
        exact = sum(o.predicted == o.gold for o in scored) / len(scored)
        cells = [
            v.name,
            f"{labelsets.micro_f1(scored):.3f}",
            "—" if v is today else paired_micro(today, v, gold, report),
            f"{labelsets.macro_f1(scored):.3f}",
            f"{exact:.3f}",
            f"{micro_f1(v.predicted, gold, select):.3f}",
            "—" if v.seconds is None else f"{v.seconds:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    best = max(results[1:], key=lambda v: micro_f1(v.predicted, gold, select))
    lines += [
        "",
        f"Chosen on the select half among llmlabel's variants: **{best.name}** (the threshold "
        "of `today@t` is itself chosen on the select half, so its select micro-F1 is optimistic).",
        "",
        "## Label use on the report half",
        "",
        "| set | labels per record | empty sets | records with neutral | most used |",
        "|---|---|---|---|---|",
        label_use(Variant("gold", gold, None), gold, report),
        *(label_use(v, gold, report) for v in results),
        "",
        f"Command: `python eval/bare_multilabel.py {shlex.join(sys.argv[1:])}` — "
        f"{dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; "
        f"{elapsed / 60:.0f} min on this machine (2 CPU cores).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--model", help="backend.model: a registry name or a .gguf path")
    parser.add_argument("--workdir", type=Path, default=harness.RESULTS / "raw" / "bare")
    parser.add_argument("--out", type=Path, default=harness.RESULTS / "bare_goemotions.md")
    args = parser.parse_args(argv)
    (args.workdir / SUITE).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    gold_rows = harness.scored_records(
        harness.gold_dir() / SUITE / "test.jsonl", args.limit, args.sample_seed
    )
    gold = {str(r["id"]): frozenset(r["labels"]) for r in gold_rows}
    results = variants(gold_rows, gold, args)
    elapsed = time.monotonic() - started
    args.out.write_text(render(results, gold, args, elapsed))
    print(f"{SUITE}: done → {args.out}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
