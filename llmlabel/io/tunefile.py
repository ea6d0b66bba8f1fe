"""Write a tuned task file: the original task file's keys with the accepted ones on top.

Relative paths in the original (``schema``, a ``.jinja`` template, ``examples.path``,
``calibration``, a ``.gguf`` model) are rewritten relative to the new file's folder, so the
tuned file works wherever it is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from llmlabel.io.textfile import read_yaml


def write_task(
    task_path: Path, output: Path, overrides: Mapping[str, Any], header: str = ""
) -> None:
    """``task_path``'s YAML with ``overrides`` (dotted keys) applied, written to ``output``;
    override values are already relative to ``output``'s folder."""
    data = read_yaml(task_path, "the task file", "fix the task file's YAML")
    moved = _moved(data, task_path.parent, output.parent)
    for dotted, value in overrides.items():
        node = moved
        *parents, key = dotted.split(".")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[key] = value
    text = yaml.safe_dump(moved, sort_keys=False, allow_unicode=True, width=100)
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    output.write_text(comment + text, encoding="utf-8")


def _moved(data: dict[str, Any], source: Path, target: Path) -> dict[str, Any]:
    """``data`` with its relative paths made relative to ``target`` instead of ``source``."""

    def rebase(value: str) -> str:
        if os.path.isabs(value) or not (source / value).exists():
            return value  # a package name, a built-in template, a registry model
        return os.path.relpath(os.path.abspath(source / value), os.path.abspath(target))

    out = dict(data)
    for key in ("template", "calibration", "image_root"):
        if isinstance(out.get(key), str):
            out[key] = rebase(out[key])
    schema = out.get("schema")
    if isinstance(schema, str):
        file, sep, attr = schema.rpartition(":")
        out["schema"] = f"{rebase(file)}:{attr}" if sep and file else rebase(schema)
    for section, key in (("examples", "path"), ("backend", "model")):
        block = out.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            out[section] = {**block, key: rebase(block[key])}
    return out
