"""Records/s of the local runner vs the Ray Data runner against the instant endpoint.

Both label the same records with the same task (samples, concurrency, no cache) through
``eval/instant_server.py`` (its own process, answering at once), so the difference is what
each runner costs on this machine. Ray's cluster start is timed apart from labeling: a real
deployment starts it once. Rounds alternate which runner goes first; medians are reported.

Ray binds every interface, so run it in a private network namespace with only loopback (the
script refuses otherwise):

    unshare -n bash -c 'ip link set lo up; nice -n 10 python eval/bench/ray_overhead.py \
        --records 2000 --rounds 2 --actors 2'
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ray

from llmlabel import api
from llmlabel.core.spec import TaskSpec, parse_task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from instant_server import InstantServer

RESULTS = Path(__file__).resolve().parent.parent / "results" / "bench_ray.md"
WORDS = ("great battery life", "stopped working after a week", "exactly as described")


def make_task(url: str, samples: int, concurrency: int) -> TaskSpec:
    return parse_task(
        {
            "name": "bench-sentiment",
            "labels": {"positive": "satisfied overall", "negative": "dissatisfied overall"},
            "samples": samples,
            "seed": 7,
            "concurrency": concurrency,
            "backend": {"type": "openai_compat", "model": "instant", "base_url": url},
        },
        source="ray_overhead",
    )


def write_records(path: Path, count: int) -> None:
    with path.open("w") as fh:
        for i in range(count):
            text = f"{WORDS[i % len(WORDS)]}, review number {i}"
            fh.write(json.dumps({"id": f"r{i}", "text": text}) + "\n")


def loopback_only() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not loopback_only():
        sys.exit("run me in a loopback-only network namespace: unshare -n (see the docstring)")
    load_before = os.getloadavg()
    local_rates: list[float] = []
    ray_rates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, InstantServer() as server:
        work = Path(tmp)
        data = work / "in.jsonl"
        write_records(data, args.records)
        task = make_task(server.url, args.samples, args.concurrency)
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        started = time.perf_counter()
        ray.init(
            num_cpus=os.cpu_count() or 1,
            include_dashboard=False,
            logging_level="ERROR",
            log_to_driver=False,
            _temp_dir=tempfile.mkdtemp(prefix="llmlabel-ray-bench-"),
        )
        ray_init = time.perf_counter() - started
        for round_ in range(args.rounds):
            order = ("local", "ray") if round_ % 2 == 0 else ("ray", "local")
            for runner in order:
                out = work / f"{runner}-{round_}.jsonl"
                started = time.perf_counter()
                if runner == "local":
                    result = api.label(task, data, out, cache=False)
                else:
                    result = api.label_on_ray(
                        task, data, out, cache=False, endpoints=[server.url], actors=args.actors
                    )
                seconds = time.perf_counter() - started
                assert result.stats.labeled == args.records, result.stats.as_dict()
                rate = args.records / seconds
                (local_rates if runner == "local" else ray_rates).append(rate)
                print(f"round {round_} {runner}: {rate:,.0f} rec/s ({seconds:.1f} s)", flush=True)
        ray.shutdown()
    local, on_ray = statistics.median(local_rates), statistics.median(ray_rates)
    ratio = on_ray / local
    print(f"local {local:,.0f} rec/s · ray {on_ray:,.0f} rec/s · ratio {ratio:.2f}")
    command = " ".join(["python eval/bench/ray_overhead.py", *sys.argv[1:]])
    args.output.write_text(
        f"""# Ray Data runner vs local runner (instant endpoint)

Measured {dt.date.today()} with `eval/bench/ray_overhead.py`, run as
`unshare -n bash -c 'ip link set lo up; nice -n 10 {command}'`.

Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()},
Ray {ray.__version__}; load average before the run {load_before[0]:.1f} (the machine was shared
with other jobs, so absolute rates are noisy; both runners ran in alternating order).

Task: classification, {args.samples} sample(s) per record, concurrency {args.concurrency}, no
cache; {args.records} records; Ray: {args.actors} actors (0.5 CPU each) on a local cluster, one
instant endpoint. Ray's cluster start ({ray_init:.1f} s here) is not in the Ray rates.

| runner | records/s (median of {args.rounds}) | all rounds |
|---|---|---|
| local (asyncio, one process) | {local:,.0f} | {_rates(local_rates)} |
| ray (Ray Data, {args.actors} actors) | {on_ray:,.0f} | {_rates(ray_rates)} |

**Ray ÷ local: {ratio:.2f}.** On one small machine Ray only adds work (staging, serialising
batches between processes, the driver gathering rows); it pays off when the endpoints are many
and slow (real models) and the actors run on several machines.
"""
    )
    print(f"wrote {args.output}")


def _rates(rates: list[float]) -> str:
    return ", ".join(f"{r:,.0f}" for r in rates)


if __name__ == "__main__":
    main()
