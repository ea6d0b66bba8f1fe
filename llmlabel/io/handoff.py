"""Write review outputs whole or not at all, and never over something without ``force``.

A folder is written into a hidden staging folder beside it and a file into a hidden temporary
file, then moved into place, so a failed write leaves nothing half-done behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from llmlabel.errors import OutputError

MARKER = ".llmlabel-review"
"""A file in every folder ``llmlabel review`` writes, so ``--force`` replaces only those; it
lists the files written, so one put there since (reviewers' export) is never replaced."""


def check_new(path: Path, force: bool, *, folder: bool) -> None:
    """Fail before any work if ``path`` exists without ``force``, or is not ours to replace."""
    if not path.exists():
        return
    if not force:
        raise OutputError("output exists", where=str(path), hint="use --force to replace it")
    if not (path.is_dir() or path.is_file()):  # renamed over, a device node would be gone
        raise OutputError(
            "output is not a regular file (a device, FIFO or socket)",
            where=str(path),
            hint="choose a new output path",
        )
    if folder and path.is_dir() and any(path.iterdir()) and not (path / MARKER).exists():
        raise OutputError(
            "output is a folder that llmlabel review did not write; refusing to replace it",
            where=str(path),
            hint="choose a new output path, or delete the folder yourself",
        )
    added = _added_files(path) if folder and path.is_dir() else []
    if added:
        raise OutputError(
            f"output folder holds files llmlabel review did not write ({', '.join(added[:3])}"
            + (f" and {len(added) - 3} more" if len(added) > 3 else "")
            + "); refusing to replace it",
            where=str(path),
            hint="move them out of the folder first (keep reviewers' exports beside it), "
            "or choose a new output path",
        )
    if path.is_dir() != folder:
        raise OutputError(
            f"output is a {'folder' if path.is_dir() else 'file'}",
            where=str(path),
            hint="choose a new output path",
        )


def write_folder(output: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` (relative path → text) as the folder ``output``, replacing it whole."""
    stage = output.parent / f".{output.name}.llmlabel-{os.getpid()}"
    try:
        shutil.rmtree(stage, ignore_errors=True)
        for name, text in {**files, MARKER: "".join(f"{n}\n" for n in sorted(files))}.items():
            target = stage / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if output.is_dir():
            shutil.rmtree(output)
        os.replace(stage, output)
    except OSError as exc:
        raise OutputError(
            f"cannot write the output: {exc.strerror or exc}", where=str(output)
        ) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _added_files(folder: Path) -> list[str]:
    """Files in a review ``folder`` that its marker does not list (none for a marker from
    before markers listed files: nothing to tell them by)."""
    try:
        listed = set((folder / MARKER).read_text(encoding="utf-8").splitlines()) - {""}
    except (OSError, UnicodeDecodeError):  # no marker: an empty folder
        return []
    if not listed:
        return []
    found = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())
    return sorted(name for name in found if name not in listed and name != MARKER)


def write_jsonl(output: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write ``rows`` as the JSONL file ``output``, replacing it only once all are written."""
    temp = output.parent / f".{output.name}.llmlabel-{os.getpid()}"
    try:
        with temp.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, output)
    except OSError as exc:
        raise OutputError(
            f"cannot write the output: {exc.strerror or exc}", where=str(output)
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def append_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append ``rows`` to ``path`` (created if missing), each line in one write."""
    try:
        needs_newline = path.exists() and path.stat().st_size > 0 and not _ends_with_newline(path)
        with path.open("a", encoding="utf-8") as fh:
            if needs_newline:
                fh.write("\n")
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OutputError(f"cannot append: {exc.strerror or exc}", where=str(path)) from None


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"
