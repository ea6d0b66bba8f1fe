"""Prompt tokens llama.cpp actually evaluates per record, vs the naive count.

Labels ``--records`` review records with ``--samples`` samples each on the embedded model
(SmolLM2-135M by default) and reads the server's own counters (``EmbeddedBackend.metrics()``:
``prompt_tokens_total`` excludes tokens reused from the prompt cache) before and after. The naive
count is what a client that sends each sample as its own request without prefix caching makes
the server evaluate: samples × the prompt's tokens.

Variants, each on a fresh server (cold cache; the first record pays for the shared prefix):

- ``n per request``: the default: up to ``backend.parallel`` samples in one request (llama.cpp
  evaluates the prompt once and copies it to the other slots); system prompt and few-shot
  examples come first and the record last, so records share the cached prefix;
- ``one request per sample``: ``backend.max_n: 1``, the same prompts: only the prefix cache;
- ``semantic few-shot``: examples chosen per record (``strategy: semantic``, tf-idf), so the
  prefix stops being shared after the system prompt.

    python eval/bench/prefix.py --records 24 --samples 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llmlabel
from llmlabel import models
from llmlabel.backends.embedded import EmbeddedBackend
from llmlabel.core.spec import parse_task

EVAL = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(EVAL))
from benchkit import WORDS, footer, write_input, write_report  # noqa: E402

POOL_LABELS = ("positive", "negative", "positive", "negative", "positive", "negative")


@dataclass
class Variant:
    name: str
    overrides: dict[str, Any]


@dataclass
class Measured:
    variant: Variant
    records: int
    requests: int
    prompt_tokens: int
    """Prompt tokens of all requests as the server reports them (each request's whole prompt)."""
    evaluated: float
    """Prompt tokens the server evaluated (cache hits excluded)."""
    cached: float

    @property
    def per_request(self) -> float:
        return self.prompt_tokens / self.requests


def make_task(model: str, samples: int, shots: int, parallel: int) -> dict[str, Any]:
    pool = [
        {"id": f"shot{i}", "text": f"Example {i}: {WORDS[i % len(WORDS)]}.", "label": label}
        for i, label in enumerate(POOL_LABELS)
    ]
    return {
        "name": "bench-prefix",
        "description": "Decide whether a short customer review is positive or negative.",
        "labels": {
            "positive": "the reviewer is satisfied overall",
            "negative": "the reviewer is dissatisfied overall",
        },
        "examples": {"items": pool, "k": shots},
        "samples": samples,
        "seed": 7,
        "concurrency": parallel,
        "backend": {"type": "embedded", "model": model, "parallel": parallel, "n_ctx": 2048},
    }


def measure(task: dict[str, Any], variant: Variant, source: Path, output: Path) -> Measured:
    spec = parse_task(task, "bench-prefix", variant.overrides, overridden="bench")
    backend = EmbeddedBackend(spec.backend, progress=False)
    try:
        before = backend.metrics()
        result = llmlabel.label(spec, source, output, cache=False, overwrite=True, backend=backend)
        after = backend.metrics()
    finally:
        asyncio.run(backend.aclose())
    stats = result.stats
    if stats.labeled + stats.abstained != stats.records:
        raise SystemExit(f"{variant.name}: {stats.as_dict()}")
    measured = Measured(
        variant,
        stats.records,
        stats.requests,
        stats.usage.prompt_tokens,
        after["prompt_tokens_total"] - before["prompt_tokens_total"],
        after["prompt_tokens_cached_total"] - before["prompt_tokens_cached_total"],
    )
    print(
        f"{variant.name}: {measured.requests} requests, {measured.per_request:.0f} prompt "
        f"tokens each; evaluated {measured.evaluated / measured.records:.1f} per record",
        flush=True,
    )
    return measured


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=models.TEST_MODEL, help="registry name or .gguf")
    parser.add_argument("--records", type=int, default=24)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--shots", type=int, default=4, choices=range(1, len(POOL_LABELS) + 1))
    parser.add_argument("--parallel", type=int, default=4, help="llama.cpp slots")
    parser.add_argument("--out", type=Path, default=EVAL / "results" / "bench_prefix.md")
    args = parser.parse_args(argv)

    task = make_task(args.model, args.samples, args.shots, args.parallel)
    variants = [
        Variant("n per request (default)", {}),
        Variant("one request per sample", {"backend.max_n": 1}),
        Variant(
            "semantic few-shot, n per request",
            {"examples.strategy": "semantic", "examples.embedder": "tfidf"},
        ),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-prefix-") as tmp:
        source, output = Path(tmp) / "input.jsonl", Path(tmp) / "output.jsonl"
        write_input(source, args.records)
        results = [measure(task, v, source, output) for v in variants]

    base = results[0]
    naive = args.samples * base.per_request
    rows = []
    for m in results:
        per_record = m.evaluated / m.records
        rows.append(
            f"| {m.variant.name} | {m.requests / m.records:.1f} | {m.per_request:.0f} "
            f"| {args.samples * m.per_request:.0f} | {per_record:.1f} "
            f"| {per_record / (args.samples * m.per_request):.3f} |"
        )
    ratio = base.evaluated / base.records / naive
    headline = (
        f"**With {args.samples} samples and {args.shots} fixed few-shot examples, llama.cpp "
        f"evaluated {base.evaluated / base.records:.1f} prompt tokens per record against a "
        f"naive {naive:.0f} ({args.samples} × {base.per_request:.0f}): {ratio:.3f} of the "
        f"naive count ({1 / ratio:.0f}× fewer).**"
    )
    print(headline)
    lines = [
        "# Prompt tokens evaluated per record",
        "",
        f"{args.records} review records, {args.samples} samples each, {args.shots} few-shot "
        f"examples, embedded llama.cpp (xllamacpp) with {args.parallel} slots, model "
        f"{args.model} (SmolLM2-135M-Instruct unless `--model` says otherwise), cache off. "
        "Evaluated = the server's `prompt_tokens_total` counter over the run (prompt-cache hits "
        "excluded), divided by records; naive = samples × the tokens of one request's prompt "
        "(each sample its own request, nothing cached). Each variant runs on a fresh server, so "
        "the first record pays for the shared prefix.",
        "",
        "| variant | requests/record | prompt tokens/request | naive tokens/record "
        "| evaluated tokens/record | evaluated ÷ naive |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        headline,
        "",
        "With `semantic` (or `mmr`) selection each record gets its own examples, so only the "
        "system prompt is a shared prefix; `n` in one request still saves the repeated "
        "prefills.",
        "",
        *footer("eval/bench/prefix.py", ("llmlabel", "xllamacpp")),
    ]
    write_report(args.out, lines)


if __name__ == "__main__":
    main()
