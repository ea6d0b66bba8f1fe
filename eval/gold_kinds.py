"""Score llmlabel on a gold set of any task kind (NER, relations, multi-label, ...).

    python eval/gold_kinds.py --suite conll2003 --limit 200 --sample-seed 0
    python eval/gold_kinds.py --suite conll2003 --limit 200 --shots 8 --strategy semantic

A suite is a task file ``eval/tasks/<suite>.yaml`` and a gold file ``<gold dir>/<suite>/
test.jsonl`` whose rows are both the records and their gold answers (conll2003: ``text``,
``tokens``, ``entities``; semeval2010_task8: ``text``, ``head``, ``tail``,
``relation_directed``; goemotions: ``text``, ``labels``). The gold dir is
``$LLMLABEL_GOLD_DIR``, else ``../shared/data/gold`` beside the repository; the records scored
are written to a temporary file outside it, never copied into the repository. ``--limit``
records are drawn with ``--sample-seed`` (a fixed seeded sample), labeled through
``llmlabel.label`` and scored by ``llmlabel.evaluate``, which picks the kind's metrics (strict
span F1 for NER, macro-F1 excluding Other for relations, micro-F1 over labels for multi-label).

With ``--shots K`` each prompt shows K examples picked by ``--strategy`` (default: the task
file's) from the suite's ``dev.jsonl``, else from the test records not scored (see
``eval/gold.py``). Gold rows become examples in the form llmlabel reads for the kind: NER
entities keep only ``text`` and ``label``, a relation's gold goes to ``label``. Requests are
cached under ``--workdir`` (default ``eval/results/raw/<suite>``, gitignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any, get_args

import gold as harness  # eval/gold.py: gold dir, seeded samples, few-shot pools

import llmlabel
from llmlabel.core.relations import gold_relation
from llmlabel.core.settings import Strategy
from llmlabel.core.spans import ENTITIES_FIELD
from llmlabel.core.spec import parse_task
from llmlabel.io.report import accuracy_title, metric_titles
from llmlabel.io.taskfile import read_task_file

TASKS = harness.TASKS
RESULTS = harness.RESULTS


def as_example(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """A gold row as a few-shot example of ``kind``: NER examples name each entity by its text
    and type only (the answer model takes no offsets); relation examples carry ``label``."""
    if kind == "ner":
        entities = sorted(row[ENTITIES_FIELD], key=lambda e: (e["start"], e["end"]))
        return {**row, ENTITIES_FIELD: [{"text": e["text"], "label": e["label"]} for e in entities]}
    if kind == "relation":
        return {**row, "label": gold_relation(row)}
    return row


def example_pool(kind: str, suite_dir: Path, scored: set[str], tmp: Path) -> tuple[Path, str]:
    """The few-shot pool (a file in ``tmp``) and where it comes from, in words."""
    path, where = harness.examples_file(suite_dir, scored, tmp)
    rows = [as_example(kind, row) for row in harness.read_jsonl(path)]
    return harness.write_jsonl(tmp / "examples-as-answers.jsonl", rows), where


def shown_per_record(output: Path) -> float:
    """The mean number of few-shot examples the output's rows record as shown."""
    counts = [len(row.get("examples") or []) for row in llmlabel.iter_output(output)]
    return sum(counts) / len(counts) if counts else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", required=True)
    parser.add_argument("--limit", type=int, default=200, help="records scored")
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--shots", type=int, default=0, help="few-shot examples per prompt")
    parser.add_argument(
        "--strategy", choices=get_args(Strategy), help="few-shot selection (default: task's)"
    )
    parser.add_argument("--model", help="backend.model: a registry name or a .gguf path")
    parser.add_argument("--template", help="a prompt other than the task's (name or .jinja path)")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per request")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument(
        "--out",
        type=Path,
        help="default eval/results/<suite>[-<template>][-<K>shot-<strategy>].md",
    )
    args = parser.parse_args(argv)
    if args.shots < 0:
        parser.error("--shots must be 0 or more")
    task = TASKS / f"{args.suite}.yaml"
    suite_dir = harness.gold_dir() / args.suite
    test = suite_dir / "test.jsonl"
    if not task.is_file() or not test.is_file():
        raise SystemExit(f"error: need {task} and {test} (set LLMLABEL_GOLD_DIR)")
    spec = parse_task(read_task_file(task)[0], str(task))
    strategy = args.strategy or spec.examples.strategy
    shots = f"{args.shots}shot-{strategy}" if args.shots else "0shot"
    shown = f"{args.shots}-shot {strategy}" if args.shots else "0-shot"
    workdir = args.workdir or RESULTS / "raw" / args.suite
    workdir.mkdir(parents=True, exist_ok=True)
    model = re.sub(r"[^A-Za-z0-9._-]", "_", Path(args.model).name) if args.model else "task"
    prompt = f"-{Path(args.template).name.removesuffix('.jinja')}" if args.template else ""
    tag = f"{model}{prompt}-{shots}-{args.samples}s-{args.limit}-seed{args.sample_seed}"
    output = workdir / f"{tag}.jsonl"
    overrides: dict[str, Any] = {
        "samples": args.samples,
        "concurrency": args.concurrency,
        "backend.timeout": args.timeout,
        "examples.k": args.shots,
    }
    if args.model:
        overrides["backend.model"] = args.model
    if args.template:
        jinja = args.template.endswith(".jinja")  # a path from here; the task resolves its own
        overrides["template"] = str(Path(args.template).resolve()) if jinja else args.template
    pool = ""
    with tempfile.TemporaryDirectory(prefix="llmlabel-gold-") as tmp:
        rows = harness.scored_records(test, args.limit, args.sample_seed)
        records = harness.write_jsonl(Path(tmp) / "records.jsonl", rows)
        if args.shots:
            scored = {str(row["id"]) for row in rows}
            examples, where = example_pool(spec.kind, suite_dir, scored, Path(tmp))
            overrides["examples.path"] = str(examples)
            overrides["examples.strategy"] = strategy
            pool = f" Few-shot examples from {where} of `{args.suite}`."
        result = llmlabel.label(
            task,
            records,
            output,
            overwrite=True,
            cache=workdir / "requests.sqlite",
            overrides=overrides,
            on_row=lambda s: print(f"\r{s.done}/{len(rows)}", end="", file=sys.stderr),
        )
        print(file=sys.stderr)
        summary = llmlabel.evaluate(output, records, report=workdir / f"{tag}-report").summary
    stats = result.stats
    if args.shots:
        pool += f" {shown_per_record(output):.1f} examples shown per record on average."
    lines = [
        f"# {args.suite}: {summary.kind} against gold, {shown}",
        "",
        f"Task `eval/tasks/{args.suite}.yaml`"
        + (f" with template `{args.template}`" if args.template else "")
        + f", model {args.model or 'of the task file'}, "
        f"{shown}, {args.samples} sample(s); {len(rows)} records of `{args.suite}/test.jsonl` "
        f"drawn at random (seed {args.sample_seed}).{pool} Abstained and failed records count "
        f"as wrong ({summary.abstained} abstained, {summary.failed} failed). "
        f"{stats.usage.prompt_tokens / max(len(rows), 1):.0f} prompt tokens per record; "
        f"{stats.seconds:.0f} s on this machine (model requests: {stats.requests}, "
        f"answered from the cache: {stats.cache_hits}).",
        "",
        "| metric | value | 95% CI (bootstrap) |",
        "|---|---|---|",
    ]
    estimates = [(accuracy_title(summary.kind), summary.accuracy)]
    estimates += [(title, summary.metrics[name]) for name, title in metric_titles(summary.kind)]
    lines += [f"| {t} | {e.value:.3f} | {e.low:.3f}–{e.high:.3f} |" for t, e in estimates]
    lines += ["", "| per class/type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [
        f"| {c.label} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {c.support} |"
        for c in summary.classes
    ]
    command = "python eval/gold_kinds.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    lines += ["", f"Command: `{command}`", "", f"Date: {date}", ""]
    name = args.suite + prompt + (f"-{shots}" if args.shots else "")
    out = args.out or RESULTS / f"{name}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
