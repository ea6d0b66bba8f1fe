"""``bootstrap:`` — transductive few-shot from the records themselves, with no human labels.

A first pass labels the input zero-shot into ``OUTPUT.bootstrap/round-0.jsonl``. Its most
confident labels, at most ``per_label`` per label (``llmlabel.core.bootstrap.choose``), become
the example pool ``pool-0.jsonl`` (each record's fields and the model's label). The next pass
labels the input with ``shots`` examples per record from that pool, chosen by ``strategy``; a
record is never its own example (by id or by text, ``llmlabel.select``). After ``rounds``
passes the last pool serves the final pass, which writes OUTPUT.

Every pass is an ordinary run through ``label_file`` (``llmlabel.api.label``): cached,
resumable, with its own manifest, so ``llmlabel eval`` on a round's file gives that round's
accuracy against gold. On ``resume`` a finished round is checked (fingerprint) and reused;
``overwrite`` starts the rounds again. The final manifest lists the rounds and their pools.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmlabel.core import bootstrap
from llmlabel.core.settings import BootstrapSpec
from llmlabel.errors import OutputError
from llmlabel.io.manifest import read_json, write_manifest
from llmlabel.io.readers import read_records
from llmlabel.io.rowfile import iter_rows
from llmlabel.runs.labeling import RunResult
from llmlabel.task import PreparedTask

LabelFile = Callable[..., RunResult]
"""``llmlabel.api.label``: (task, input, output, **options) -> RunResult; passed in, as
the API sits above this module."""


def work_folder(output: Path) -> Path:
    """Where the rounds and pools of ``output`` live."""
    return output.with_name(output.name + ".bootstrap")


def label(
    task: Any,
    prepared: PreparedTask,
    input: str | Path,
    output: Path,
    label_file: LabelFile,
    *,
    resume: bool,
    overwrite: bool,
    overrides: dict[str, Any],
    **options: Any,
) -> RunResult:
    """Run the rounds, then the final pass into ``output``; its RunResult."""
    spec = prepared.spec.bootstrap
    assert spec is not None
    work = work_folder(output)
    if overwrite:
        shutil.rmtree(work, ignore_errors=True)
    elif work.exists() and not resume:
        raise OutputError(
            "an earlier bootstrap run left its rounds here",
            where=str(work),
            hint="use --resume to continue it or --overwrite to start again",
        )
    work.mkdir(parents=True, exist_ok=True)
    base = {**overrides, "bootstrap": False}
    rounds: list[dict[str, Any]] = []
    pool: Path | None = None
    for number in range(spec.rounds):
        done = work / f"round-{number}.jsonl"
        settings = {**base, **_examples(pool, spec)}
        label_file(task, input, done, resume=done.exists(), overrides=settings, **options)
        pool = _write_pool(work / f"pool-{number}.jsonl", done, input, prepared, spec)
        rounds.append({"output": str(done), "pool": str(pool), "labels": _counts(pool)})
    settings = {**base, **_examples(pool, spec)}
    result = label_file(
        task, input, output, resume=resume, overwrite=overwrite, overrides=settings, **options
    )
    info = read_json(result.manifest) or {}
    info["bootstrap"] = {**spec.model_dump(), "rounds": rounds}
    write_manifest(result.manifest, info)
    return result


def _examples(pool: Path | None, spec: BootstrapSpec) -> dict[str, Any]:
    if pool is None:
        return {}
    path, k, strategy = str(pool), spec.shots, spec.strategy
    return {"examples.path": path, "examples.k": k, "examples.strategy": strategy}


def _write_pool(
    path: Path, labeled: Path, input: str | Path, prepared: PreparedTask, spec: BootstrapSpec
) -> Path:
    """The pool of a finished pass: its chosen records' fields and the model's labels."""
    chosen = dict(
        bootstrap.choose(iter_rows(labeled), prepared.labels, spec.per_label, spec.min_confidence)
    )
    if not chosen:
        raise OutputError(
            "no labeled row to take examples from",
            where=str(labeled),
            hint="check the run's rows; lower bootstrap.min_confidence",
        )
    spec_fields = prepared.spec.fields
    rows = []
    for record in read_records(input, id_field=prepared.spec.id_field, keep_bad=True):
        if record.error is None and record.id in chosen:
            fields = {f: record.data[f] for f in spec_fields if f in record.data}
            rows.append({"id": record.id, **fields, "label": chosen.pop(record.id)})
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    tmp.replace(path)
    return path


def _counts(pool: Path) -> dict[str, int]:
    rows = (json.loads(line) for line in pool.read_text().splitlines())
    return dict(Counter(row["label"] for row in rows))
