"""``llmlabel compare``: run variants of one task on the same seeded gold sample and test them.

A compare file (YAML) names a base task file and the variants, each a set of task-file keys
that override it (template, backend/model, shots, strategy, samples, ...)::

    task: task.yaml
    shared: {backend.model: smollm2-135m, samples: 3}    # optional, applied to every variant
    variants:
      zero-shot: {examples.k: 0}
      four-shot: {examples: {k: 4, strategy: label_balanced}}

Keys are dotted or nested. Paths (a ``.jinja`` template, ``examples.path``, ``schema``, a
``.gguf`` model) are relative to the compare file. Every variant labels the same records
through ``label_records`` with the request cache, so a rerun asks the model nothing new.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmlabel.core import comparison
from llmlabel.core.comparison import Comparison, Cost
from llmlabel.core.evaluation import Options
from llmlabel.errors import ConfigError, LLMLabelError
from llmlabel.io import plots
from llmlabel.io.compare_report import write_compare_report
from llmlabel.io.gold import read_gold
from llmlabel.io.paths import REPORT_FILES, check_apart, report_writes
from llmlabel.io.textfile import read_yaml
from llmlabel.runs.labeling import label_records
from llmlabel.task import PreparedTask, load

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
FIXED = ("kind", "labels", "id_field", "fields")
"""Keys a variant cannot change: every variant is scored on the same gold records."""


class CompareSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    shared: dict[str, Any] = Field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = Field(min_length=2)


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, Any]
    """Dotted task keys: the shared ones, then the variant's own."""
    own: dict[str, Any]
    """The variant's own keys, as reports show them."""
    task: PreparedTask


@dataclass(frozen=True)
class CompareResult:
    comparison: Comparison
    report: Path | None
    """report.md, when a report folder was given (report.html, summary.json, plots/ and
    predictions/ lie beside it)."""


def compare(
    compare_file: str | Path,
    gold: str | Path,
    *,
    input: str | Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    report: str | Path | None = None,
    cache: str | Path | bool = True,
    alpha: float = 0.05,
    resamples: int = 1000,
    target_accuracy: float = 0.95,
    bins: int = 10,
    on_variant: Callable[[str, int, int], None] | None = None,
) -> CompareResult:
    """Label ``limit`` gold records (a seeded sample; all by default) with every variant of
    ``compare_file`` and compare them pairwise (see ``llmlabel.core.comparison``).

    ``gold``: rows with the task's fields and the gold answer, or only ``{id, label}`` when
    ``input`` holds the records (joined by id). ``report``: a folder for report.md/.html,
    summary.json, plots and each variant's predictions. ``on_variant(name, i, total)`` is
    called before each variant is labeled.
    """
    path = Path(compare_file)
    task_path, variants = read_compare(path)
    names = (*REPORT_FILES, *(f"predictions/{v.name}.jsonl" for v in variants))
    reads = {"the compare file": path, "the task file": task_path, "--gold": gold, "--input": input}
    check_apart(report_writes(report, names), reads)
    base = variants[0].task.spec
    ids, labels, records = read_gold(gold, input, base.id_field, base.fields, base.kind)
    picked = sample(len(ids), limit, seed)
    gold_pairs = [(ids[i], labels[i]) for i in picked]
    to_label = [records[i] for i in picked]
    options = Options(target_accuracy=target_accuracy, bins=bins, resamples=resamples, seed=seed)
    if report is not None:
        plots.require()  # before any labeling
    scored = []
    outputs: dict[str, list[dict[str, Any]]] = {}
    for i, variant in enumerate(variants, start=1):
        if on_variant is not None:
            on_variant(variant.name, i, len(variants))
        rows, cost = _label(task_path, variant, to_label, cache)
        outputs[variant.name] = rows
        result = comparison.score(variant.name, rows, gold_pairs, base.kind, options)
        scored.append((result, variant.own, cost))
    outcome = comparison.compare(scored, base.kind, options, alpha)
    written = None
    if report is not None:
        sources = {"compare": str(path), "task": str(task_path), "gold": str(gold)}
        if input is not None:
            sources["input"] = str(input)
        drawn = {"total": len(ids), "limit": limit, "seed": seed}
        written = write_compare_report(outcome, report, sources, drawn, outputs)
    return CompareResult(comparison=outcome, report=written)


def read_compare(path: Path) -> tuple[Path, list[Variant]]:
    """The base task file and the variants, each checked by preparing its task."""
    spec = _parse(path)
    task_path = Path(os.path.normpath(path.parent / spec.task))
    if not task_path.is_file():
        raise ConfigError(
            f"task file {spec.task} not found", where=str(path), hint="`task:` is relative to it"
        )
    shared = _flatten(spec.shared, path.parent, f"{path}: shared")
    variants = []
    for name, keys in spec.variants.items():
        where = f"{path}: variant '{name}'"
        if not NAME.fullmatch(name):
            raise ConfigError(
                "a variant name may hold only letters, digits, '.', '_' and '-'",
                where=where,
                hint="names become file names in the report folder",
            )
        own = _flatten(keys, path.parent, where)
        overrides = {**shared, **own}
        try:
            prepared = load(task_path, overrides)
        except LLMLabelError as exc:
            message = f"{exc.where}: {exc.message}" if exc.where else exc.message
            raise type(exc)(message, where=where, hint=exc.hint) from None
        variants.append(Variant(name, overrides, own, prepared))
    kinds = {v.task.spec.kind for v in variants}
    if len(kinds) > 1:
        raise ConfigError(f"variants have different task kinds: {sorted(kinds)}", where=str(path))
    return task_path, variants


def sample(total: int, limit: int | None, seed: int) -> list[int]:
    """Positions of a seeded sample of ``limit`` of ``total`` records, in their order."""
    if limit is None or limit >= total:
        return list(range(total))
    if limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    return sorted(random.Random(seed).sample(range(total), limit))


def _label(
    task_path: Path,
    variant: Variant,
    records: list[dict[str, Any]],
    cache: str | Path | bool,
) -> tuple[list[dict[str, Any]], Cost]:
    started = time.perf_counter()
    rows = label_records(task_path, records, overrides=variant.overrides, cache=cache)
    seconds = time.perf_counter() - started
    usage = [row.get("usage") or {} for row in rows]
    return rows, Cost(
        prompt_tokens=sum(u.get("prompt_tokens", 0) for u in usage),
        completion_tokens=sum(u.get("completion_tokens", 0) for u in usage),
        seconds=seconds,
    )


def _parse(path: Path) -> CompareSpec:
    if not path.is_file():
        raise ConfigError(
            "compare file not found", where=str(path), hint="see examples/sentiment/compare.yaml"
        )
    data = read_yaml(
        path, "compare file", hint="check indentation, quoting and names", loader=_UniqueKeyLoader
    )
    try:
        return CompareSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"'{'.'.join(map(str, e['loc'])) or 'top level'}': {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(
            problems,
            where=str(path),
            hint="a compare file has `task:`, optional `shared:` and `variants:` (two or more, "
            "name: {task keys})",
        ) from None


def _flatten(keys: Mapping[str, Any], base: Path, where: str, prefix: str = "") -> dict[str, Any]:
    """Nested or dotted task keys as dotted keys; relative paths resolved against ``base``."""
    flat: dict[str, Any] = {}
    for key, value in keys.items():
        dotted = f"{prefix}{key}"
        if dotted.split(".")[0] in FIXED:
            raise ConfigError(
                f"a variant cannot set '{dotted}'",
                where=where,
                hint="variants are scored on the same gold: change it in the task file",
            )
        if isinstance(value, Mapping):
            flat.update(_flatten(value, base, where, f"{dotted}."))
        else:
            flat[dotted] = _resolve(dotted, value, base)
    return flat


def _resolve(key: str, value: Any, base: Path) -> Any:
    if not isinstance(value, str):
        return value
    is_path = (
        (key == "template" and value.endswith(".jinja"))
        or key == "examples.path"
        or (key == "backend.model" and value.endswith(".gguf"))
    )
    if is_path:
        return str((base / value).resolve())
    if key == "schema" and ":" in value:
        file, _, attr = value.rpartition(":")
        if file.endswith(".py"):
            return f"{(base / file).resolve()}:{attr}"
    return value


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML mapping with a key twice is an error, not a silently dropped variant."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    problem=f"key '{key}' appears twice (variant names must be unique)",
                    problem_mark=key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
