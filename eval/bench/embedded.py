"""llmlabel on the embedded model ÷ the raw backend driven directly (target: ratio ≥ 0.9).

Both sides run the same model (SmolLM2-135M by default, the test model: the ratio measures
llmlabel's overhead, which a bigger model would only hide) in llama.cpp in process
(``xllamacpp.Server``, the same parameters: ``backend.parallel`` slots, ``n_ctx``, threads,
prompt cache), each side on its own server so neither warms the other's prompt cache:

- raw: the request bodies llmlabel's embedded backend sends (same rendered messages, ``n``,
  seed, temperature, ``max_tokens`` and llguidance grammar), rendered beforehand, fed to
  ``Server.handle_chat_completions`` from ``parallel`` threads; each answer's JSON parsed.
- llmlabel: ``llmlabel.label(task, input.jsonl, output.jsonl, cache=False, backend=...)`` end to
  end (read, render, request, validate, vote, write rows and the manifest), with concurrency
  ``parallel`` (the default task's 4 and 4). Model load is outside the timing on both sides.

Rounds alternate which side runs first; the ratio (llmlabel ÷ raw records/s) is the median.

    python eval/bench/embedded.py --records 48 --rounds 4
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llmlabel
from llmlabel import models
from llmlabel.backends.embedded import EmbeddedBackend
from llmlabel.backends.llama_server import _start_server
from llmlabel.core.spec import TaskSpec, parse_task
from llmlabel.task import PreparedTask, load

EVAL = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(EVAL))
from benchkit import WORDS, Clock, Timing, footer, median, write_input, write_report  # noqa: E402

SHOT_LABELS = ("positive", "negative", "positive", "negative", "positive", "negative")


@dataclass
class Round:
    index: int
    order: str
    raw: Timing
    llmlabel: Timing

    @property
    def ratio(self) -> float:
        return self.llmlabel.rate / self.raw.rate


def make_task(model: str, samples: int, shots: int, parallel: int, n_ctx: int) -> TaskSpec:
    items = [
        {"id": f"shot{i}", "text": f"Example: {WORDS[i % len(WORDS)]}.", "label": label}
        for i, label in enumerate(SHOT_LABELS[:shots])
    ]
    return parse_task(
        {
            "name": "bench-embedded",
            "description": "Decide whether a short customer review is positive or negative.",
            "labels": {
                "positive": "the reviewer is satisfied overall",
                "negative": "the reviewer is dissatisfied overall",
            },
            "examples": {"items": items, "k": shots},
            "samples": samples,
            "seed": 7,
            "concurrency": parallel,
            "backend": {"type": "embedded", "model": model, "parallel": parallel, "n_ctx": n_ctx},
        },
        source="bench-embedded",
    )


def request_bodies(
    prepared: PreparedTask, backend: EmbeddedBackend, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every chat body llmlabel's embedded backend sends for ``rows``, built by the backend."""
    samples, step = prepared.spec.samples, backend.max_n
    bodies = []
    for row in rows:
        messages, _ = prepared.messages_for(row["id"], row)
        for round_, start in enumerate(range(0, samples, step)):
            request = prepared.request(messages, min(step, samples - start), round_)
            bodies.append(backend._body(request))
    return bodies


def run_raw(server: Any, bodies: list[dict[str, Any]], parallel: int, records: int) -> Timing:
    def one(body: dict[str, Any]) -> list[Any]:
        response = server.handle_chat_completions(body)
        return [json.loads(c["message"]["content"]) for c in response["choices"]]

    with Clock() as clock, ThreadPoolExecutor(parallel) as pool:
        answers = list(pool.map(one, bodies))
    assert len(answers) == len(bodies)
    return clock.timing(records)


def run_llmlabel(
    task: TaskSpec, backend: EmbeddedBackend, source: Path, output: Path, limit: int | None = None
) -> Timing:
    with Clock() as clock:
        result = llmlabel.label(
            task, source, output, cache=False, overwrite=True, limit=limit, backend=backend
        )
    stats = result.stats
    if stats.labeled + stats.abstained != stats.records:
        raise SystemExit(f"llmlabel labeled {stats.labeled} of {stats.records}: {stats.as_dict()}")
    return clock.timing(stats.records)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=models.TEST_MODEL, help="registry name or .gguf")
    parser.add_argument("--records", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--shots", type=int, default=4, choices=range(len(SHOT_LABELS) + 1))
    parser.add_argument("--parallel", type=int, default=4, help="llama.cpp slots (both sides)")
    parser.add_argument("--n-ctx", type=int, default=2048, help="context per slot")
    parser.add_argument("--out", type=Path, default=EVAL / "results" / "bench_embedded.md")
    args = parser.parse_args(argv)

    task = make_task(args.model, args.samples, args.shots, args.parallel, args.n_ctx)
    prepared = load(task)
    spec = prepared.spec.backend
    backend = EmbeddedBackend(spec, progress=False)
    raw = _start_server(backend.path, spec, alias="raw", api_key=secrets.token_urlsafe(24))
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
        source, output = Path(tmp) / "input.jsonl", Path(tmp) / "output.jsonl"
        rows = write_input(source, args.records)
        bodies = request_bodies(prepared, backend, rows)
        print(
            f"{backend.model_id}: {args.records} records, {args.samples} sample(s), "
            f"{args.shots} shots, {args.parallel} slots, {len(bodies)} requests per side"
        )
        warm = min(args.parallel, args.records)  # grammar compile, first decode
        run_raw(raw, bodies[:warm], args.parallel, warm)
        run_llmlabel(task, backend, source, output, limit=warm)
        for i in range(1, args.rounds + 1):
            raw_first = i % 2 == 1
            if raw_first:
                base = run_raw(raw, bodies, args.parallel, args.records)
                ours = run_llmlabel(task, backend, source, output)
            else:
                ours = run_llmlabel(task, backend, source, output)
                base = run_raw(raw, bodies, args.parallel, args.records)
            rounds.append(Round(i, "raw first" if raw_first else "llmlabel first", base, ours))
            print(
                f"round {i} ({rounds[-1].order}): raw {base.rate:.2f} rec/s, "
                f"llmlabel {ours.rate:.2f} rec/s, "
                f"ratio {rounds[-1].ratio:.2f}",
                flush=True,
            )
    ratio = median(r.ratio for r in rounds)
    print(f"ratio llmlabel/raw (median of {len(rounds)}): {ratio:.2f}")
    lines = [
        "# Embedded: llmlabel vs the raw llama.cpp backend",
        "",
        f"Model {backend.model_id} (SmolLM2-135M-Instruct Q4_1 unless `--model` says otherwise) "
        f"in llama.cpp in process (xllamacpp), {args.parallel} slots, n_ctx {args.n_ctx} per "
        f"slot; {args.records} records, {args.samples} sample(s) per record, {args.shots} "
        "fixed few-shot examples. Raw = the same request bodies (built by llmlabel's backend: "
        "messages, n, seed, temperature, max_tokens, grammar) fed straight to "
        f"`Server.handle_chat_completions` from {args.parallel} threads; llmlabel = "
        "`llmlabel.label` end to end with cache off, concurrency "
        f"{args.parallel}. Each side has its own server; model load is not timed.",
        "",
        "| round | order | raw rec/s | llmlabel rec/s | ratio |",
        "|---|---|---|---|---|",
        *(
            f"| {r.index} | {r.order} | {r.raw.rate:.2f} | {r.llmlabel.rate:.2f} | {r.ratio:.2f} |"
            for r in rounds
        ),
        "",
        f"**Median ratio llmlabel ÷ raw: {ratio:.2f}** (target ≥ 0.9).",
        "",
        *footer("eval/bench/embedded.py", ("llmlabel", "xllamacpp")),
    ]
    write_report(args.out, lines)


if __name__ == "__main__":
    main()
