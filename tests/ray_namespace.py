"""Run inside a private network namespace (loopback only) by ``tests/test_ray_runner.py``.

Ray binds its services on every interface, so the Ray tests start the cluster, and the
llama.cpp server it talks to, in ``unshare -n`` where only 127.0.0.1 exists. This script labels
the same records with the local runner and the Ray runner and writes what each produced as
JSON for the test to compare:

    python -m tests.ray_namespace WORKDIR MODEL.gguf     # from the repository root
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import ray

from llmlabel import api
from llmlabel.backends.llama_server import serve_http
from llmlabel.core.settings import BackendSpec

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "examples/sentiment/task.yaml"


def cli(*args: str, cwd: Path | None = None) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "llmlabel", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "120"},
    )
    return {"args": list(args), "rc": result.returncode, "stdout": result.stdout,
            "stderr": result.stderr[-3000:]}  # fmt: skip


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def main(work: Path, model: str) -> None:
    data = work / "in.jsonl"
    found: dict[str, Any] = {}
    spec = BackendSpec(model=model, parallel=3, n_ctx=2048, threads=2)
    with serve_http(spec, host="127.0.0.1", progress=False) as server:
        url = server.base_url
        # 1. CLI over the llama.cpp server, no cache: the same seeds give the same answers.
        common = ["-i", str(data), "--model", "smol", "--samples", "3", "--no-cache"]
        found["cli_local"] = cli(
            "run", str(TASK), "-o", str(work / "local.jsonl"), "--backend", "openai_compat",
            "--base-url", url, "--on-error", "skip", *common,
        )  # fmt: skip
        found["cli_ray"] = cli(
            "run", str(TASK), "-o", str(work / "ray.jsonl"), "--runner", "ray", "--endpoints",
            f"{url},{url}", "--on-error", "skip", *common,
        )  # fmt: skip
        # 2. The README's example, verbatim apart from the server's URL.
        readme = os.environ.get("README_RAY_COMMAND")
        if readme:
            args = shlex.split(readme)[1:]
            args[args.index("--endpoints") + 1] = f"{url},{url}"
            found["readme"] = cli(*args, cwd=work)
    # One local cluster for the API calls below, as the CLI starts it (see
    # llmlabel.runs.ray_actor.cluster).
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
        _temp_dir=tempfile.mkdtemp(prefix="llmlabel-ray-test-"),  # short: socket paths
    )  # fmt: skip
    # 3. Embedded model in the actors, through the API; then the local runner on its cache.
    overrides = {"backend.model": model, "samples": 2}
    cache = work / "cache.sqlite"
    ray_run = api.label_on_ray(
        TASK, data, work / "emb-ray.jsonl", overrides=overrides, cache=cache, actors=1,
        partition_rows=3, on_error="skip",
    )  # fmt: skip
    local_run = api.label(
        TASK, data, work / "emb-local.jsonl", overrides=overrides, cache=cache, on_error="skip"
    )
    found["embedded"] = {"ray": ray_run.stats.as_dict(), "local": local_run.stats.as_dict()}
    # 4. Resume: a finished partition (marked) is kept, the others are labeled.
    done = rows(work / "emb-ray.jsonl")[:3]
    parts = work / "resumed.jsonl.ray" / "parts"
    parts.mkdir(parents=True)
    (parts.parent / "plan.json").write_text(json.dumps({"input": str(data), "partition_rows": 3}))
    marked = [{**row, "label": "MARK"} for row in done]
    (parts / "part-000000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in marked))
    resumed = api.label_on_ray(
        TASK, data, work / "resumed.jsonl", overrides=overrides, cache=cache, actors=1,
        partition_rows=3, on_error="skip", resume=True,
    )  # fmt: skip
    found["resumed"] = resumed.stats.as_dict()
    found["resumed_work_left"] = (work / "resumed.jsonl.ray").exists()
    # 5. Resume a finished output with a failed row: only that record is labeled again.
    labeled = rows(work / "emb-ray.jsonl")
    broken = [{**r, "status": "failed", "label": None} if r["id"] == "r02" else r for r in labeled]
    (work / "retry.jsonl").write_text("".join(json.dumps(r) + "\n" for r in broken))
    retried = api.label_on_ray(
        TASK, data, work / "retry.jsonl", overrides=overrides, cache=cache, actors=1,
        partition_rows=3, on_error="skip", resume=True,
    )  # fmt: skip
    found["retried"] = {**retried.stats.as_dict(), "failed": retried.failed}
    (work / "found.json").write_text(json.dumps(found, indent=1))
    ray.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
