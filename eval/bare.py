"""Accuracy from a one-line task: llmlabel on bare task files against a bare prompt (issue 19).

    python eval/bare.py                                  # six classification suites, 200 each
    python eval/bare.py --suites sst2 --limit 40

Each suite's bare task file (``eval/tasks/bare/``: name, one line, label names, everything else
default) labels the same seeded sample of ``--limit`` test records, 0-shot, on the default
embedded model. The variants, each a label per record:

- ``floor``: a bare prompt sent straight to the same model (served over HTTP by the same
  llama.cpp build, ``serve_http``): the line, the label names, the text, "answer with the label
  only"; greedy, 16 tokens; the label named first in the answer wins, none named is wrong;
- ``today``: ``llmlabel.label`` on the bare task with every default (one greedy answer,
  ``confidence: logprob``, the label with the highest probability);
- ``bc``: today's label distributions with the content-free prior divided out
  (``bias_correction: content_free``, Zhao et al. 2021); the prior comes from three
  content-free records labeled in the same run;
- ``bc+em``: the bias-corrected distributions re-weighted by the label prior of the pool,
  estimated by EM over the unlabeled records (Saerens et al. 2002, with the content-free prior
  as the model's own prior): a transductive step that needs no labels;
- ``boot``: transductive few-shot, no human labels: ``today``'s most confident labels
  (``--per-label`` records per label, highest probability first) become the example pool of a
  second pass, ``--shots`` examples per record by ``semantic`` selection; a record is never its
  own example (the selector skips its id);
- ``boot+bc``: the second pass's distributions with its content-free prior divided out;
- ``describe``: ``describe_labels: true``: the model first writes a line for each bare label
  (one request per task, showing the first input records), and the run prompts with those
  lines; its input is the gold records alone (no content-free records among the first);
- ``describe0``: the same with no record shown (``llmlabel.runs.describe.RECORDS`` set to 0 for
  that run), to measure what the records add.

``--variants`` computes only some of them (``today`` always).

The records are split into two seeded halves: ``select`` (where a default would be chosen) and
``report`` (where it is scored). Every variant is compared with ``today`` on the same records:
the accuracy difference with a paired bootstrap 95% CI and the exact McNemar p. Requests are
cached under ``eval/results/raw/bare/<suite>``; the floor's answers in ``floor.jsonl`` there.

The 28-label multi-label suite goemotions is measured by ``eval/bare_multilabel.py`` (set
metrics: micro-F1, macro-F1, exact match; ``eval/results/bare_goemotions.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gold as harness  # eval/gold.py: suites, seeded samples, Wilson CI, McNemar
import httpx

import llmlabel
from llmlabel.backends.llama_server import serve_http
from llmlabel.core import labelprobs
from llmlabel.core.settings import BackendSpec
from llmlabel.runs import describe
from llmlabel.task import load

TASKS = harness.TASKS / "bare"
RESULTS = harness.RESULTS
SUITES = "sst2,ag_news,trec,sms_spam,tweet_eval_emotion,financial_phrasebank"
VARIANTS = ("floor", "today", "bc", "bc+em", "boot", "boot+bc", "describe", "describe0")
Probs = dict[str, float]


@dataclass(frozen=True)
class Variant:
    suite: str
    name: str
    predicted: dict[str, str | None]
    """Gold id -> the label this variant gave (None: none)."""
    seconds: float | None
    """Model seconds per record (None when every answer came from the cache)."""


def floor_prompt(description: str, labels: Sequence[str], text: str) -> str:
    return (
        f"{description}\n\nLabels: {', '.join(labels)}\n\nText: {text}\n\n"
        "Answer with the label only."
    )


def named_label(answer: str, labels: Sequence[str]) -> str | None:
    """The label the answer names first (case-insensitive), longest name on a tie."""
    found = [(answer.lower().find(label.lower()), -len(label), label) for label in labels]
    named = sorted(f for f in found if f[0] >= 0)
    return named[0][2] if named else None


def floor(suite: str, gold: list[dict[str, Any]], args: argparse.Namespace) -> Variant:
    """The bare prompt's label per record."""
    task = load(TASKS / f"{suite}.yaml")
    labels, description = task.labels, task.spec.description or ""
    answers, seconds = floor_answers(
        suite, gold, args, lambda text: floor_prompt(description, labels, text)
    )
    predicted = {str(g["id"]): named_label(answers[str(g["id"])], labels) for g in gold}
    return Variant(suite, "floor", predicted, seconds)


def floor_answers(
    suite: str,
    gold: list[dict[str, Any]],
    args: argparse.Namespace,
    prompt: Callable[[str], str],
    max_tokens: int = 16,
) -> tuple[dict[str, str], float | None]:
    """The model's greedy answer to ``prompt(text)`` by id, cached one JSON line per record in
    ``floor.jsonl``; model seconds per record (None when every answer came from the cache)."""
    task = load(TASKS / f"{suite}.yaml")
    cache = args.workdir / suite / "floor.jsonl"
    timing = cache.with_suffix(".timing.json")
    answers = {}
    if cache.is_file():
        answers = {r["id"]: r["answer"] for r in map(json.loads, cache.read_text().splitlines())}
    todo = [g for g in gold if str(g["id"]) not in answers]
    seconds = None
    if todo:
        spec = BackendSpec(model=args.model or task.spec.backend.model)
        print(f"{suite} floor: {len(todo)} records …", file=sys.stderr, flush=True)
        with serve_http(spec, progress=False) as server, cache.open("a") as out:
            client = httpx.Client(base_url=server.base_url, timeout=600)
            started = time.monotonic()
            for record in todo:
                body = {
                    "model": server.model_id,
                    "messages": [{"role": "user", "content": prompt(str(record["text"]))}],
                    "temperature": 0.0,
                    "max_tokens": max_tokens,
                    "seed": 0,
                }
                reply = client.post("/chat/completions", json=body).raise_for_status().json()
                answer = reply["choices"][0]["message"]["content"] or ""
                answers[str(record["id"])] = answer
                out.write(json.dumps({"id": str(record["id"]), "answer": answer}) + "\n")
                out.flush()
            seconds = (time.monotonic() - started) / len(todo)
        timing.write_text(json.dumps({"seconds_per_record": seconds}))
    if timing.is_file():
        seconds = json.loads(timing.read_text())["seconds_per_record"]
    return answers, seconds


def label_today(
    suite: str,
    gold: list[dict[str, Any]],
    args: argparse.Namespace,
    tmp: Path,
    name: str = "today",
    extra: Mapping[str, Any] | None = None,
    *,
    free: bool = True,
) -> tuple[dict[str, dict[str, Any]], Probs, float | None]:
    """llmlabel's rows by id on the bare task (with ``extra`` overrides), the content-free
    prior (uniform with ``free=False``: no content-free records asked), seconds per record."""
    task = load(TASKS / f"{suite}.yaml")
    free_records = [
        {"id": f"content-free-{i}", **dict.fromkeys(task.spec.fields, text)}
        for i, text in enumerate(labelprobs.CONTENT_FREE)
    ]
    asked_free = free_records if free else []
    inputs = harness.write_jsonl(tmp / f"{suite}.jsonl", [*asked_free, *gold])
    workdir = args.workdir / suite
    output = workdir / f"{name}-{len(gold)}-seed{args.sample_seed}.jsonl"
    overrides = {"backend.model": args.model} if args.model else {}
    overrides.update(extra or {})
    print(f"{suite} {name}: labeling …", file=sys.stderr, flush=True)
    result = llmlabel.label(
        TASKS / f"{suite}.yaml",
        inputs,
        output,
        overwrite=True,
        cache=workdir / "requests.sqlite",
        overrides=overrides,
    )
    seconds = harness.seconds_per_record(output, result.stats)
    rows = {str(row["id"]): row for row in llmlabel.iter_output(output)}
    priors = [rows[r["id"]]["probs"] for r in asked_free if rows[r["id"]].get("probs")]
    prior = labelprobs.mean(priors, task.labels) or dict.fromkeys(task.labels, 1 / len(task.labels))
    return rows, prior, seconds


def bootstrap_pool(
    gold: list[dict[str, Any]], rows: Mapping[str, dict[str, Any]], per_label: int
) -> list[dict[str, Any]]:
    """The records ``rows`` labeled most confidently, ``per_label`` per label at most, as
    examples carrying the model's label (never the gold one)."""
    ranked = sorted(
        (r for r in gold if rows[str(r["id"])]["status"] == "labeled"),
        key=lambda r: -rows[str(r["id"])]["confidence"],
    )
    taken: dict[str, int] = {}
    pool = []
    for record in ranked:
        label = rows[str(record["id"])]["label"]
        if taken.get(label, 0) < per_label:
            taken[label] = taken.get(label, 0) + 1
            pool.append({"id": str(record["id"]), "text": record["text"], "label": label})
    return pool


def pool_prior(
    dists: Sequence[Probs], own: Probs, labels: Sequence[str], rounds: int = 100
) -> Probs:
    """Saerens et al. (2002): the label prior of the pool by EM, the posteriors ``dists``
    having been made under the prior ``own``."""
    prior = dict.fromkeys(labels, 1 / len(labels))
    for _ in range(rounds):
        posts = [reweight(d, own, prior) for d in dists]
        new = {label: sum(p[label] for p in posts) / len(posts) for label in labels}
        if max(abs(new[k] - prior[k]) for k in labels) < 1e-6:
            return new
        prior = new
    return prior


def reweight(dist: Probs, own: Probs, target: Probs) -> Probs:
    """``dist`` made under prior ``own``, moved to prior ``target`` (renormalised)."""
    raw = {k: dist.get(k, 0.0) * target[k] / max(own.get(k, 0.0), 1e-9) for k in target}
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()} if total else dict(dist)


def argmax(probs: Probs, labels: Sequence[str]) -> str | None:
    return labelprobs.argmax(probs, labels) if probs else None


def suite_variants(suite: str, args: argparse.Namespace, tmp: Path) -> list[Variant]:
    """The variants in ``args.variants`` (``today`` always) on ``suite``."""
    wanted = set(args.variants.split(",")) | {"today"}
    gold = harness.scored_records(
        harness.gold_dir() / suite / "test.jsonl", args.limit, args.sample_seed
    )
    labels = load(TASKS / f"{suite}.yaml").labels
    found = [floor(suite, gold, args)] if "floor" in wanted else []
    rows, prior, seconds = label_today(suite, gold, args, tmp)
    dists = {g: dict(rows[g].get("probs") or {}) for g in (str(r["id"]) for r in gold)}
    today = {g: (rows[g].get("label") if rows[g]["status"] == "labeled" else None) for g in dists}
    found.append(Variant(suite, "today", today, seconds))
    corrected = {g: labelprobs.debias(d, prior) if d else {} for g, d in dists.items()}
    if "bc" in wanted:
        found.append(
            Variant(suite, "bc", {g: argmax(d, labels) for g, d in corrected.items()}, seconds)
        )
    if "bc+em" in wanted:
        uniform = dict.fromkeys(labels, 1 / len(labels))
        estimated = pool_prior([d for d in corrected.values() if d], uniform, labels)
        print(f"{suite}: content-free prior {_rounded(prior)}; pool prior {_rounded(estimated)}",
              file=sys.stderr)  # fmt: skip
        moved = {
            g: argmax(reweight(d, uniform, estimated), labels) if d else None
            for g, d in corrected.items()
        }
        found.append(Variant(suite, "bc+em", moved, seconds))
    if wanted & {"boot", "boot+bc"}:
        pool = harness.write_jsonl(
            args.workdir / suite / "bootstrap-pool.jsonl",
            bootstrap_pool(gold, rows, args.per_label),
        )
        examples = {
            "examples.path": str(pool),
            "examples.k": args.shots,
            "examples.strategy": "semantic",
        }
        again, again_prior, again_seconds = label_today(suite, gold, args, tmp, "boot", examples)
        boot = {g: dict(again[g].get("probs") or {}) for g in dists}
        boot_bc = {g: labelprobs.debias(d, again_prior) if d else {} for g, d in boot.items()}
        total = None if seconds is None or again_seconds is None else seconds + again_seconds
        found += [
            Variant(suite, "boot", {g: argmax(d, labels) for g, d in boot.items()}, total),
            Variant(suite, "boot+bc", {g: argmax(d, labels) for g, d in boot_bc.items()}, total),
        ]
    for name, shown in (("describe", describe.RECORDS), ("describe0", 0)):
        if name not in wanted:
            continue
        # Without the content-free records: the lines are written from the first records.
        kept, describe.RECORDS = describe.RECORDS, shown
        try:
            extra = {"describe_labels": True}
            lines, _, lines_seconds = label_today(suite, gold, args, tmp, name, extra, free=False)
        finally:
            describe.RECORDS = kept
        described = {g: argmax(dict(lines[g].get("probs") or {}), labels) for g in dists}
        found.append(Variant(suite, name, described, lines_seconds))
    return [v for v in found if v.name in wanted]


def _rounded(probs: Probs) -> str:
    return json.dumps({k: round(v, 3) for k, v in probs.items()})


def accuracy_cells(variant: Variant, gold: Mapping[str, str], ids: Sequence[str]) -> list[str]:
    right = sum(variant.predicted[i] == gold[i] for i in ids)
    low, high = harness.wilson(right, len(ids))
    return [f"{right / len(ids):.3f} ({low:.3f}–{high:.3f})", f"{macro_f1(variant, gold, ids):.3f}"]


def macro_f1(variant: Variant, gold: Mapping[str, str], ids: Sequence[str]) -> float:
    labels = sorted({gold[i] for i in ids})
    scores = []
    for label in labels:
        tp = sum(variant.predicted[i] == label == gold[i] for i in ids)
        fp = sum(variant.predicted[i] == label != gold[i] for i in ids)
        fn = sum(gold[i] == label != variant.predicted[i] for i in ids)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def paired_cells(
    base: Variant, other: Variant, gold: Mapping[str, str], ids: Sequence[str]
) -> list[str]:
    diffs = [int(other.predicted[i] == gold[i]) - int(base.predicted[i] == gold[i]) for i in ids]
    rng = random.Random(0)
    means = sorted(sum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(2000))
    low, high = means[50], means[1949]
    worse, better = diffs.count(-1), diffs.count(1)
    p = harness.mcnemar(worse, better)
    return [f"{sum(diffs) / len(diffs):+.3f} ({low:+.3f} to {high:+.3f})", f"{worse}/{better}",
            f"{p:.3g}"]  # fmt: skip


def render(results: dict[str, list[Variant]], golds: dict[str, dict[str, str]], args: Any) -> str:
    command = "python eval/bare.py " + shlex.join(sys.argv[1:])
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    lines = [
        "# Accuracy from a one-line task: bare task files",
        "",
        f"Model: {args.model or 'the default embedded model'}; 0-shot; {args.limit} records per "
        f"suite drawn at random (seed {args.sample_seed}) from each suite's `test.jsonl`; task "
        "files `eval/tasks/bare/` (name, one line, label names). Variants: see the docstring "
        "of eval/bare.py. `report` is the seeded half kept for reporting; `select` the half a "
        "default is chosen on.",
        "",
        "| suite | variant | accuracy report half (95% CI) | macro-F1 report | accuracy all "
        "| vs today on report half: Δ accuracy (paired 95% CI) | worse/better | McNemar p "
        "| model s/record |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = [v for v in VARIANTS if all(any(x.name == v for x in r) for r in results.values())]
    select_means: dict[str, list[float]] = {v: [] for v in VARIANTS}
    report_means: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for suite, variants in results.items():
        gold = golds[suite]
        ids = sorted(gold)
        select, report = harness.halves(ids, args.sample_seed)
        today = next(v for v in variants if v.name == "today")
        for v in variants:
            right = [v.predicted[i] == gold[i] for i in ids]
            select_means[v.name].append(
                sum(v.predicted[i] == gold[i] for i in select) / len(select)
            )
            report_means[v.name].append(
                sum(v.predicted[i] == gold[i] for i in report) / len(report)
            )
            paired = ["—", "—", "—"] if v is today else paired_cells(today, v, gold, report)
            seconds = "—" if v.seconds is None else f"{v.seconds:.2f}"
            lines.append(
                "| " + " | ".join([suite, v.name, *accuracy_cells(v, gold, report),
                                    f"{sum(right) / len(right):.3f}", *paired, seconds]) + " |"
            )  # fmt: skip
    lines += [
        "",
        "## Means over the suites",
        "",
        "| variant | mean accuracy, select half | mean accuracy, report half |",
        "|---|---|---|",
    ]
    for name in names:
        s, r = select_means[name], report_means[name]
        lines.append(f"| {name} | {sum(s) / len(s):.3f} | {sum(r) / len(r):.3f} |")
    best = max((n for n in names if n != "floor"), key=lambda name: sum(select_means[name]))
    lines += [
        "",
        f"Chosen on the select half among llmlabel's variants: **{best}**.",
        "",
        f"Command: `{command}` — {date}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default=SUITES)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--model", help="backend.model: a registry name or a .gguf path")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated (today always)"
    )
    parser.add_argument("--shots", type=int, default=4, help="boot: examples per record")
    parser.add_argument("--per-label", type=int, default=8, help="boot: pool records per label")
    parser.add_argument("--workdir", type=Path, default=RESULTS / "raw" / "bare")
    parser.add_argument("--out", type=Path, default=RESULTS / "bare.md")
    run_suites(parser.parse_args(argv), suite_variants, render)


def run_suites(
    args: argparse.Namespace,
    variants: Callable[[str, argparse.Namespace, Path], list[Variant]],
    rendered: Callable[[dict[str, list[Variant]], dict[str, dict[str, str]], Any], str],
) -> None:
    """Each suite's ``variants``, the report rewritten to ``args.out`` after each suite."""
    results: dict[str, list[Variant]] = {}
    golds: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for suite in args.suites.split(","):
            (args.workdir / suite).mkdir(parents=True, exist_ok=True)
            results[suite] = variants(suite, args, Path(tmp))
            golds[suite] = {
                str(r["id"]): r["label"]
                for r in harness.scored_records(
                    harness.gold_dir() / suite / "test.jsonl", args.limit, args.sample_seed
                )
            }
            args.out.write_text(rendered(results, golds, args))
            print(f"{suite}: done → {args.out}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
