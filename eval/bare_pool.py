"""Accuracy from a one-line task, corrected on the unlabeled pool itself (issue 19).

    python eval/bare_pool.py                             # six classification suites, 200 each
    python eval/bare_pool.py --suites sst2 --limit 40

``eval/bare.py``'s ``today`` run (each suite's bare task, every default: one greedy answer and
its label distribution from the token logprobs) labels the same seeded records, cached in the
same place. The variants below change only what is done with those distributions afterwards,
using nothing but the unlabeled records (no gold label, no extra model request):

- ``today``: the most probable label;
- ``bc``: the content-free prior divided out (Zhao et al. 2021), for comparison;
- ``batch``: batch calibration (Zhou et al. 2024): the mean distribution over the pool is the
  contextual bias, divided out; it assumes the labels are about equally frequent;
- ``pool``: what llmlabel does with ``bias_correction: pool``: batch calibration with the
  mean of the first 64 records only (the input in its seeded order, no content-free records),
  mixed half and half with the uniform prior as ``content_free`` is; a run of its own, whose
  requests the cache answers (they are ``today``'s);
- ``proto``: prototypical calibration (Han et al. 2023): a Gaussian mixture with one component
  per label fitted to the pool's distributions, each component given the label its mean
  favours most (one label per component, Hungarian matching); a record takes its most likely
  component's label. The mixture's weights learn the pool's label frequencies;
- ``student``: a logistic regression on the records' MiniLM embeddings, trained on ``today``'s
  labels (weighted by their probability) and cross-fitted in five seeded folds, so no record
  is scored by a model that saw its own label;
- ``fused``: ``today``'s distribution times the student's (renormalised).

The records are split into the same seeded halves as ``eval/bare.py``: ``select`` (where a
default would be chosen) and ``report`` (where it is scored); each variant is compared with
``today`` on the report half (paired bootstrap 95% CI, exact McNemar p).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import bare  # eval/bare.py: the bare-task run, accuracy and paired cells
import gold as harness  # eval/gold.py: suites, seeded samples, halves
import numpy as np

from llmlabel.core import labelprobs
from llmlabel.select.embed import make_embedder
from llmlabel.task import load

VARIANTS = ("today", "bc", "batch", "pool", "proto", "student", "fused")
Probs = dict[str, float]
FLOOR = 1e-6


def batch_calibrated(dists: Sequence[Probs], labels: Sequence[str]) -> list[Probs]:
    """Each distribution divided by the pool's mean distribution (renormalised)."""
    mean = labelprobs.mean(list(dists), labels)
    out = []
    for d in dists:
        raw = {label: d.get(label, 0.0) / max(mean[label], FLOOR) for label in labels}
        total = sum(raw.values())
        out.append({label: p / total for label, p in raw.items()} if total else dict(d))
    return out


def prototypical(dists: Sequence[Probs], labels: Sequence[str], seed: int = 0) -> list[str]:
    """The label of each distribution's most likely mixture component (one per label)."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.mixture import GaussianMixture

    points = np.array([[d.get(label, 0.0) for label in labels] for d in dists])
    mixture = GaussianMixture(
        n_components=len(labels), reg_covar=1e-3, n_init=5, random_state=seed
    ).fit(points)
    rows, cols = linear_sum_assignment(-mixture.means_)  # component -> label, most mass
    named = dict(zip(rows.tolist(), cols.tolist(), strict=True))
    return [labels[named[c]] for c in mixture.predict(points).tolist()]


def student(
    texts: Sequence[str],
    dists: Sequence[Probs],
    labels: Sequence[str],
    workdir: Path,
    folds: int = 5,
    seed: int = 0,
) -> list[Probs]:
    """Cross-fitted logistic-regression distributions from MiniLM embeddings, trained on the
    distributions' argmax labels weighted by their probability."""
    from sklearn.linear_model import LogisticRegression

    from llmlabel.select.embed import cached_embeddings

    vectors = cached_embeddings(make_embedder("minilm", texts), list(texts), workdir / "embeddings")
    targets = [labelprobs.argmax(d, labels) for d in dists]
    weights = np.array([max(d.values()) if d else 0.0 for d in dists])
    order = np.random.default_rng(seed).permutation(len(texts))
    out: list[Probs] = [dict.fromkeys(labels, 1 / len(labels)) for _ in texts]
    for k in range(folds):
        held = order[k::folds]
        train = np.array([i for i in order if i not in set(held.tolist()) and targets[i]])
        seen = sorted({targets[i] for i in train})
        if len(seen) < 2:
            continue
        model = LogisticRegression(max_iter=2000).fit(
            vectors[train], [targets[i] for i in train], sample_weight=weights[train]
        )
        for i, p in zip(held.tolist(), model.predict_proba(vectors[held]), strict=True):
            got = dict(zip(model.classes_.tolist(), p.tolist(), strict=True))
            out[i] = {label: 0.9 * got.get(label, 0.0) + 0.1 / len(labels) for label in labels}
    return out


def fused(one: Probs, other: Probs, labels: Sequence[str]) -> Probs:
    raw = {label: max(one.get(label, 0.0), FLOOR) * other[label] for label in labels}
    total = sum(raw.values())
    return {label: p / total for label, p in raw.items()}


def suite_variants(suite: str, args: argparse.Namespace, tmp: Path) -> list[bare.Variant]:
    records = harness.scored_records(
        harness.gold_dir() / suite / "test.jsonl", args.limit, args.sample_seed
    )
    task = load(bare.TASKS / f"{suite}.yaml")
    labels = task.labels
    rows, prior, seconds = bare.label_today(suite, records, args, tmp)
    ids = [str(r["id"]) for r in records]
    uniform = dict.fromkeys(labels, 1 / len(labels))
    dists = [dict(rows[i].get("probs") or uniform) for i in ids]
    texts = [" ".join(str(r[f]) for f in task.spec.fields) for r in records]
    today = {i: (rows[i].get("label") if rows[i]["status"] == "labeled" else None) for i in ids}

    def variant(name: str, labelled: Sequence[str | None]) -> bare.Variant:
        return bare.Variant(suite, name, dict(zip(ids, labelled, strict=True)), seconds)

    calibrated = batch_calibrated(dists, labels)
    pooled, _, _ = bare.label_today(
        suite, records, args, tmp, "pool", {"bias_correction": "pool"}, free=False
    )
    taught = student(texts, dists, labels, args.workdir / suite, seed=args.sample_seed)
    return [
        bare.Variant(suite, "today", today, seconds),
        variant("bc", [bare.argmax(labelprobs.debias(d, prior), labels) for d in dists]),
        variant("batch", [bare.argmax(d, labels) for d in calibrated]),
        variant("pool", [pooled[i].get("label") for i in ids]),
        variant("proto", prototypical(dists, labels, args.sample_seed)),
        variant("student", [bare.argmax(d, labels) for d in taught]),
        variant(
            "fused",
            [bare.argmax(fused(d, s, labels), labels) for d, s in zip(dists, taught, strict=True)],
        ),
    ]


def render(
    results: Mapping[str, list[bare.Variant]],
    golds: Mapping[str, dict[str, str]],
    args: Any,
) -> str:
    command = "python eval/bare_pool.py " + shlex.join(sys.argv[1:])
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    lines = [
        "# Accuracy from a one-line task, corrected on the unlabeled pool",
        "",
        f"Model: {args.model or 'the default embedded model'}; 0-shot; {args.limit} records per "
        f"suite drawn at random (seed {args.sample_seed}) from each suite's `test.jsonl`; task "
        "files `eval/tasks/bare/`. Every variant post-processes `today`'s label distributions "
        "(no extra model request); see the docstring of eval/bare_pool.py. `report` is the "
        "seeded half kept for reporting, `select` the half a default is chosen on.",
        "",
        "| suite | variant | accuracy report half (95% CI) | macro-F1 report | accuracy all "
        "| vs today on report half: Δ accuracy (paired 95% CI) | worse/better | McNemar p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    select_means: dict[str, list[float]] = {v: [] for v in VARIANTS}
    report_means: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for suite, variants in results.items():
        gold = golds[suite]
        ids = sorted(gold)
        select, report = harness.halves(ids, args.sample_seed)
        today = next(v for v in variants if v.name == "today")
        for v in variants:
            right = [v.predicted[i] == gold[i] for i in ids]
            for half, means in ((select, select_means), (report, report_means)):
                means[v.name].append(sum(v.predicted[i] == gold[i] for i in half) / len(half))
            paired = ["—"] * 3 if v is today else bare.paired_cells(today, v, gold, report)
            cells = [suite, v.name, *bare.accuracy_cells(v, gold, report),
                     f"{sum(right) / len(right):.3f}", *paired]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Means over the suites",
        "",
        "| variant | mean accuracy, select half | mean accuracy, report half | suites worse than "
        "today (report half) |",
        "|---|---|---|---|",
    ]
    for name in VARIANTS:
        s, r = select_means[name], report_means[name]
        worse = sum(x < t for x, t in zip(r, report_means["today"], strict=True))
        lines.append(f"| {name} | {sum(s) / len(s):.3f} | {sum(r) / len(r):.3f} | {worse} |")
    best = max(VARIANTS, key=lambda name: sum(select_means[name]))
    lines += [
        "",
        f"Chosen on the select half: **{best}**.",
        "",
        f"Command: `{command}` — {date}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default=bare.SUITES)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--model", help="backend.model: a registry name or a .gguf path")
    parser.add_argument("--workdir", type=Path, default=bare.RESULTS / "raw" / "bare")
    parser.add_argument("--out", type=Path, default=bare.RESULTS / "bare_pool.md")
    bare.run_suites(parser.parse_args(argv), suite_variants, render)


if __name__ == "__main__":
    main()
