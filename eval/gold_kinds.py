"""Score llmlabel on a gold set of any task kind (NER, relations, ...) with ``llmlabel eval``.

    python eval/gold_kinds.py --suite conll2003 --limit 200 --sample-seed 0

A suite is a task file ``eval/tasks/<suite>.yaml`` and a gold file ``<gold dir>/<suite>/
test.jsonl`` whose rows are both the records and their gold answers (conll2003: ``text``,
``tokens``, ``entities``; semeval2010_task8: ``text``, ``head``, ``tail``,
``relation_directed``). The gold dir is ``$LLMLABEL_GOLD_DIR``, else ``../shared/data/gold``
beside the repository; the records scored are written to a temporary file outside it, never
copied into the repository. ``--limit`` records are drawn with ``--sample-seed`` (a fixed seeded
sample), labeled 0-shot through ``llmlabel.label`` and scored by ``llmlabel.evaluate``, which
picks the kind's metrics (strict span F1 for NER, macro-F1 excluding Other for relations).
Requests are cached under ``--workdir`` (default ``eval/results/raw/<suite>``, gitignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import llmlabel
from llmlabel.io.report import accuracy_title, metric_titles

EVAL = Path(__file__).resolve().parent
TASKS = EVAL / "tasks"
RESULTS = EVAL / "results"
DEFAULT_GOLD = EVAL.parent.parent / "shared" / "data" / "gold"


def gold_dir() -> Path:
    return Path(os.environ.get("LLMLABEL_GOLD_DIR") or DEFAULT_GOLD)


def sample(test: Path, limit: int, seed: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in test.read_text(encoding="utf-8").splitlines() if line]
    chosen = sorted(random.Random(seed).sample(range(len(rows)), min(limit, len(rows))))
    return [rows[i] for i in chosen]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", required=True)
    parser.add_argument("--limit", type=int, default=200, help="records scored")
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--model", help="backend.model: a registry name or a .gguf path")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per request")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--out", type=Path, help="default eval/results/<suite>.md")
    args = parser.parse_args(argv)
    task = TASKS / f"{args.suite}.yaml"
    test = gold_dir() / args.suite / "test.jsonl"
    if not task.is_file() or not test.is_file():
        raise SystemExit(f"error: need {task} and {test} (set LLMLABEL_GOLD_DIR)")
    workdir = args.workdir or RESULTS / "raw" / args.suite
    workdir.mkdir(parents=True, exist_ok=True)
    tag = f"{args.model or 'task'}-{args.samples}s-{args.limit}-seed{args.sample_seed}"
    output = workdir / f"{tag}.jsonl"
    overrides: dict[str, Any] = {
        "samples": args.samples,
        "concurrency": args.concurrency,
        "backend.timeout": args.timeout,
    }
    if args.model:
        overrides["backend.model"] = args.model
    with tempfile.TemporaryDirectory(prefix="llmlabel-gold-") as tmp:
        records = Path(tmp) / "records.jsonl"
        rows = sample(test, args.limit, args.sample_seed)
        records.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
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
    lines = [
        f"# {args.suite}: {summary.kind} against gold",
        "",
        f"Task `eval/tasks/{args.suite}.yaml`, model {args.model or 'of the task file'}, "
        f"0-shot, {args.samples} sample(s); {len(rows)} records of `{args.suite}/test.jsonl` "
        f"drawn at random (seed {args.sample_seed}). Abstained and failed records count as "
        f"wrong ({summary.abstained} abstained, {summary.failed} failed). "
        f"{result.stats.seconds:.0f} s on this machine.",
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
    out = args.out or RESULTS / f"{args.suite}.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
