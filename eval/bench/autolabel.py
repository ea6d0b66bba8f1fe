"""llmlabel vs refuel-autolabel records/s on the same task and endpoint (target: ≥ 10× at 200 ms).

Both label the same review records (positive/negative) through one instant OpenAI-compatible
endpoint (``eval/instant_server.py``, its own process, 127.0.0.1) that answers after a simulated
model latency of 0 ms and then 200 ms. autolabel gets a plain-text label (it sends no schema),
llmlabel a JSON answer to its schema. autolabel runs in its own venv (a 6 GB install with CUDA
torch, kept out of the repo and CI) through ``autolabel_driver.py``; its time is its
``LabelingAgent.run`` alone, llmlabel's is ``llmlabel.label`` end to end (cache off).

One-time setup (about 4 minutes; quirks in shared/INTEGRATIONS.md: openai<1, the tiktoken of its
``openai`` extra, ``OPENAI_API_BASE``)::

    python3.11 -m venv ~/.cache/llmlabel/autolabel-venv
    ~/.cache/llmlabel/autolabel-venv/bin/pip install 'refuel-autolabel[openai]==0.0.16' 'openai<1'

Then::

    python eval/bench/autolabel.py --records 1000 --latency-records 200
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import llmlabel
from llmlabel.core.spec import parse_task

HERE = Path(__file__).resolve().parent
EVAL = HERE.parent
sys.path.insert(0, str(EVAL))
from benchkit import Clock, footer, write_input, write_report  # noqa: E402
from instant_server import InstantServer  # noqa: E402

VENV = Path.home() / ".cache" / "llmlabel" / "autolabel-venv"
LABELS = {
    "positive": "the reviewer is satisfied overall",
    "negative": "the reviewer is dissatisfied overall",
}


@dataclass
class Row:
    latency_ms: int
    records: int
    autolabel: float
    llmlabel: dict[int, float]
    """Records/s by llmlabel concurrency."""


def run_llmlabel(server: InstantServer, source: Path, output: Path, concurrency: int) -> float:
    task = parse_task(
        {
            "name": "bench-sentiment",
            "description": "Decide whether a short customer review is positive or negative.",
            "labels": LABELS,
            "concurrency": concurrency,
            "backend": {"type": "openai_compat", "model": "instant", "base_url": server.url},
        },
        source="bench-autolabel",
    )
    with Clock() as clock:
        result = llmlabel.label(task, source, output, cache=False, overwrite=True)
    if result.stats.labeled != result.stats.records:
        raise SystemExit(f"llmlabel: {result.stats.as_dict()}")
    return result.stats.records / clock.wall


def run_autolabel(python: Path, server: InstantServer, source: Path, workdir: Path) -> float:
    env = {**os.environ, "OPENAI_API_BASE": server.url, "OPENAI_API_KEY": "sk-local-bench"}
    env.pop("OPENAI_BASE_URL", None)
    done = subprocess.run(
        # -P: not this folder on sys.path, where this file would shadow the autolabel package.
        [str(python), "-P", str(HERE / "autolabel_driver.py"), str(source)],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"autolabel failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["labeled"] != result["records"]:
        raise SystemExit(f"autolabel labeled {result['labeled']} of {result['records']}")
    return float(result["records"] / result["seconds"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000, help="records at 0 ms")
    parser.add_argument("--latency-records", type=int, default=200, help="records at 200 ms")
    parser.add_argument("--latencies", default="0,200", help="simulated latencies, ms")
    parser.add_argument("--concurrency", default="4,16", help="llmlabel concurrency values")
    parser.add_argument("--python", type=Path, default=VENV / "bin" / "python")
    parser.add_argument("--out", type=Path, default=EVAL / "results" / "bench_autolabel.md")
    args = parser.parse_args(argv)
    if not args.python.exists():
        raise SystemExit(f"no autolabel venv at {args.python}: see the setup in this docstring")
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-autolabel-") as tmp:
        folder = Path(tmp)
        warm = folder / "warm.jsonl"  # imports, client and template set up, as autolabel's are
        write_input(warm, 50)
        with InstantServer() as server:
            run_llmlabel(server, warm, folder / "out.jsonl", max(concurrencies))
        for latency in (int(x) for x in args.latencies.split(",")):
            records = args.records if latency == 0 else args.latency_records
            source = folder / f"in-{records}.jsonl"
            write_input(source, records)
            with InstantServer(latency_ms=latency, text_answer="positive") as server:
                output = folder / "out.jsonl"
                ours = {c: run_llmlabel(server, source, output, c) for c in concurrencies}
                theirs = run_autolabel(args.python, server, source, folder)
            rows.append(Row(latency, records, theirs, ours))
            print(
                f"{latency} ms: autolabel {theirs:.1f} rec/s; llmlabel "
                + ", ".join(f"{r:.1f} rec/s at concurrency {c}" for c, r in ours.items()),
                flush=True,
            )

    top = max(concurrencies)
    table = [
        "| latency | records | autolabel rec/s | "
        + " | ".join(f"llmlabel rec/s (concurrency {c}) | ratio" for c in concurrencies)
        + " |",
        "|---|---|---|" + "---|---|" * len(concurrencies),
    ]
    for row in rows:
        cells = " | ".join(
            f"{row.llmlabel[c]:.1f} | {row.llmlabel[c] / row.autolabel:.1f}×" for c in concurrencies
        )
        table.append(f"| {row.latency_ms} ms | {row.records} | {row.autolabel:.1f} | {cells} |")
    slow = rows[-1]
    headline = (
        f"**At {slow.latency_ms} ms: llmlabel {slow.llmlabel[top] / slow.autolabel:.1f}× "
        f"autolabel's records/s at concurrency {top}** (target ≥ 10×)."
    )
    if slow.latency_ms:
        ceiling = top * 1000 / slow.latency_ms
        headline += (
            f" autolabel is bound by the latency alone (≤ {1000 / slow.latency_ms:.0f} "
            f"records/s); llmlabel's bound is concurrency ÷ latency = {ceiling:.0f} records/s, "
            "and what it falls short of that is client CPU on this shared machine."
        )
    print(headline)
    lines = [
        "# llmlabel vs refuel-autolabel",
        "",
        "The same classification task (short reviews, positive/negative, zero-shot, 1 sample) "
        "against the same instant OpenAI-compatible endpoint (`eval/instant_server.py`, separate "
        "process, 127.0.0.1) with a simulated model latency. autolabel 0.0.16 (openai 0.28, "
        "`gpt-3.5-turbo` chat route, no generation cache, cost function patched out) labels one "
        "row at a time; llmlabel runs `concurrency` requests at once (4 is its default).",
        "",
        *table,
        "",
        headline,
        "",
        *footer("eval/bench/autolabel.py"),
    ]
    write_report(args.out, lines)


if __name__ == "__main__":
    main()
