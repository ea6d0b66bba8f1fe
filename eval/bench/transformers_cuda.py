"""The transformers backend end to end on CUDA (and/or CPU): validity and records/s.

Labels the sentiment example reviews through ``llmlabel.label`` with ``backend: transformers``
on a tiny random Llama built here (``tiny_lm.py``; no download) or on ``--model`` (a local
folder), checks that every row is schema-valid with its votes summing to ``--samples``, and
prints a Markdown table (also written to ``--out``). Needs only torch, transformers, xgrammar
and llmlabel's light imports (pydantic, jinja2, pyyaml): no network.

    python eval/bench/transformers_cuda.py --devices cuda cpu --records 40 --samples 5
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tiny_lm import build_tiny_lm  # noqa: E402

import llmlabel  # noqa: E402

TASK = REPO / "examples" / "sentiment" / "task.yaml"
REVIEWS = REPO / "examples" / "sentiment" / "reviews.jsonl"


def run(model: Path, device: str, records: int, samples: int, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    result = llmlabel.label(
        TASK,
        REVIEWS,
        out,
        limit=records,
        cache=False,
        overwrite=True,
        overrides={
            "backend.type": "transformers",
            "backend.model": str(model),
            "backend.device": device,
            "backend.batch_size": records * samples,
            "samples": samples,
            "temperature": 1.0,
            "concurrency": records,
        },
    )
    seconds = time.perf_counter() - started
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    valid = sum(
        r["status"] in ("labeled", "abstained")
        and not r["invalid"]
        and sum(r["votes"].values()) == samples
        for r in rows
    )
    return {
        "device": device,
        "records": len(rows),
        "valid": valid,
        "seconds": seconds,
        "records_per_s": len(rows) / seconds,
        "completion_tokens": result.stats.usage.completion_tokens,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cuda"])
    parser.add_argument("--records", type=int, default=40)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--model", type=Path, help="a local model folder (default: tiny random)")
    parser.add_argument("--out", type=Path, help="write the Markdown table here too")
    args = parser.parse_args()

    import torch
    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or build_tiny_lm(Path(tmp) / "tiny-lm")
        results = []
        for device in args.devices:
            run(model, device, 2, 1, Path(tmp) / "warmup.jsonl")  # load, compile, warm caches
            results.append(run(model, device, args.records, args.samples, Path(tmp) / "o.jsonl"))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    lines = [
        f"# transformers backend: {args.records} records × {args.samples} samples",
        "",
        f"`python eval/bench/transformers_cuda.py --devices {' '.join(args.devices)} "
        f"--records {args.records} --samples {args.samples}`"
        + (f" `--model {args.model}`" if args.model else " (tiny random Llama)"),
        "",
        f"python {platform.python_version()}, torch {torch.__version__}, transformers "
        f"{transformers.__version__}, xgrammar {version('xgrammar')}, GPU: {gpu}",
        "",
        "| device | rows | schema-valid | seconds | records/s | completion tokens |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['device']} | {r['records']} | {r['valid']} | {r['seconds']:.2f} | "
        f"{r['records_per_s']:.2f} | {r['completion_tokens']} |"
        for r in results
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        args.out.write_text(table)
    return 0 if all(r["valid"] == r["records"] == args.records for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
