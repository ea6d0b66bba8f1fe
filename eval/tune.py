"""``llmlabel tune`` on bare task files: what a small gold set buys (issue 19, the third use).

    python eval/tune.py                              # sst2 and trec, 200 records each
    python eval/tune.py --suites sst2 --limit 60

For each suite, the same seeded sample of ``--limit`` test records as eval/bare.py is the gold
set; ``llmlabel.tune`` splits it (seed 0) into a dev half, where it searches (describe,
instructions, examples, bias; a step accepted only on McNemar p < 0.05 against the incumbent),
and a held-out half it labels only after the search, with the bare task as given and as tuned.
The held-out numbers are the ones reported. Requests share eval/bare.py's cache
(``eval/results/raw/bare/<suite>/requests.sqlite``), so the task as given costs nothing when
eval/bare.py ran before; tuned files and reports go to ``eval/results/raw/tune/<suite>/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
import time
from pathlib import Path

import gold as harness  # eval/gold.py: suites, seeded samples

import llmlabel

RESULTS = harness.RESULTS
BARE = harness.TASKS / "bare"
TRIALS_HEADER = "| step | option | dev accuracy | incumbent | better / worse | McNemar p | taken |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default="sst2,trec")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--model", help="backend.model: a registry name or a .gguf path")
    parser.add_argument("--out", type=Path, default=RESULTS / "tune.md")
    args = parser.parse_args(argv)
    command = "python eval/tune.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    lines = [
        "# `llmlabel tune` on bare task files",
        "",
        f"Gold: {args.limit} test records per suite drawn at random (seed {args.sample_seed}), "
        "the same as eval/bare.py; split by `tune` (seed 0) into dev (searched) and held-out "
        "(labeled once, after the search). Task: `eval/tasks/bare/<suite>.yaml`; model: "
        f"{args.model or 'the default embedded model'}.",
        "",
        "| suite | dev / held-out | accepted steps | held-out accuracy as given | tuned "
        "| Δ (paired 95% CI) | better / worse | McNemar p | wall seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    trials: list[str] = []
    with tempfile.TemporaryDirectory(prefix="llmlabel-tune-") as tmp:
        for suite in args.suites.split(","):
            records = harness.scored_records(
                harness.gold_dir() / suite / "test.jsonl", args.limit, args.sample_seed
            )
            gold = harness.write_jsonl(Path(tmp) / f"{suite}.jsonl", records)
            workdir = RESULTS / "raw" / "tune" / suite
            workdir.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            result = llmlabel.tune(
                BARE / f"{suite}.yaml",
                gold,
                workdir / "tuned.yaml",
                overrides={"backend.model": args.model} if args.model else None,
                cache=RESULTS / "raw" / "bare" / suite / "requests.sqlite",
                on_step=lambda step, s=suite: print(f"{s}: {step} …", file=sys.stderr, flush=True),
            )
            seconds = time.perf_counter() - started
            d = result.pair.delta("accuracy")
            m = result.pair.mcnemar
            steps = ", ".join(t.step for t in result.trials if t.accepted) or "none"
            lines.append(
                f"| {suite} | {result.dev} / {result.held_out} | {steps} | {d.a:.3f} | {d.b:.3f} "
                f"| {d.delta:+.3f} ({d.low:+.3f} to {d.high:+.3f}) | {m.b_only} / {m.a_only} "
                f"| {m.p_value:.3g} | {seconds:.0f} |"
            )
            trials += [f"### {suite}", "", TRIALS_HEADER, "|---|---|---|---|---|---|---|"]
            for t in result.trials:
                option = ", ".join(f"{k}={str(v)[:60]}" for k, v in t.shown.items())
                trials.append(
                    f"| {t.step} | {option.replace('|', '/')} | {t.accuracy:.3f} "
                    f"| {t.incumbent:.3f} | {t.better} / {t.worse} | {t.p_value:.3g} "
                    f"| {'yes' if t.accepted else 'no'} |"
                )
            trials.append("")
            date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            text = [*lines, "", "## The search on dev", "", *trials]
            text += [f"Command: `{command}`", "", f"Date: {date}", ""]
            args.out.write_text("\n".join(text), encoding="utf-8")
            print(f"{suite}: done → {args.out}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
