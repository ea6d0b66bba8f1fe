"""The run manifest beside each output: config, versions, totals. Written atomically, so a
reader (or a killed run) only ever sees the previous or the new manifest, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from llmlabel._version import __version__
from llmlabel.errors import OutputError, hide_passwords

PACKAGES = ("openai", "pydantic", "jinja2", "xllamacpp", "vllm", "datasets", "pyarrow")


def manifest_path_for(output_path: str | Path) -> Path:
    """``out.jsonl`` → ``out.manifest.json`` (also for ``out.jsonl.gz`` and ``out``)."""
    path = Path(output_path)
    name = path.name.removesuffix(".gz")
    stem = Path(name).stem if Path(name).suffix else name
    return path.with_name(f"{stem}.manifest.json")


def write_manifest(path: str | Path, data: dict[str, Any]) -> None:
    """Write ``data`` as pretty JSON via a temporary file and ``os.replace``.

    Values JSON cannot hold (paths, datetimes) are written as strings.
    """
    path = Path(path)
    text = hide_passwords(json.dumps(data, indent=2, ensure_ascii=False, default=str)) + "\n"
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(
            f"cannot write the run manifest: {exc.strerror or exc}",
            where=str(path),
            hint="check free space and permissions of the output folder",
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def environment_info() -> dict[str, Any]:
    """Python, platform, and versions of llmlabel and of the installed packages it uses."""
    packages: dict[str, str] = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[name] = metadata.version(name)
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "llmlabel": __version__,
        "packages": packages,
    }


def read_manifest(output: str | Path) -> dict[str, Any] | None:
    """The manifest ``label`` wrote beside ``output``, or None if there is none (or it cannot
    be read: a manifest adds information, it is never a reason to fail a reader)."""
    return read_json(manifest_path_for(output))


def task_labels(manifest: dict[str, Any] | None) -> list[str]:
    """The label names of the task a manifest ran (none where it does not say)."""
    task = (manifest or {}).get("task")
    labels = task.get("labels") if isinstance(task, dict) else None
    if not isinstance(labels, list):
        return []
    return [str(label["name"]) for label in labels if isinstance(label, dict) and "name" in label]


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
