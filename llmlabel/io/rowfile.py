"""An output file read back: its rows for the commands (``iter_rows``, ``read_rows``), and
the scan a resume starts from (``scan_for_resume``: the ids done, the failed rows to retry,
where a partial last line starts). ``llmlabel.io.sink`` writes the file.

A bad last line is a partial write from a killed run and is skipped; a bad line before the
end is an error naming its line.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from llmlabel.core.idset import IdSet
from llmlabel.core.row import Row, read_row
from llmlabel.errors import InputError, LLMLabelError, OutputError


def iter_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of an output file; a partial last line (from a killed run) is skipped. A last
    line that is a whole JSON object without its newline (a file written by hand or by
    another tool) is a row."""
    for _, row in iter_numbered_rows(path):
        yield row


def iter_numbered_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of an output file, so readers can name the line of a bad row."""
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read output file: {exc.strerror}", where=str(path)) from None
    with fh:
        yield from _complete_rows(fh, str(path), InputError, _Tail(), unterminated=True)


def read_rows(path: str | Path, *, skipped: bool = True) -> Iterator[tuple[str, Row]]:
    """Each row of an output file as a ``Row``, with where it is (``file:line``); a malformed
    row stops the read with a one-line error naming its line and field. ``skipped=False``
    leaves out the ``skipped`` rows (bad records, ``--on-error skip``): they carry no label to
    export, review or audit (``eval`` scores them, as wrong)."""
    for lineno, data in iter_numbered_rows(path):
        row = read_row(data, f"{path}:{lineno}")
        if skipped or row.status != "skipped":
            yield f"{path}:{lineno}", row


# After a power loss a file can end in zero-filled blocks: junk, like a partial line.
_JUNK = b" \t\r\n\x00"


@dataclass
class _Tail:
    good_end: int = 0
    """Offset just past the last complete, valid line."""


@dataclass
class Scan:
    """What resuming an output found in it."""

    ids: IdSet = field(default_factory=IdSet)
    wheres: set[str] = field(default_factory=set)
    retry: IdSet = field(default_factory=IdSet)
    """Ids of failed rows left out to be labeled again."""
    retry_lines: set[int] = field(default_factory=set)
    failed_kept: int = 0
    good_end: int = 0
    dropped: int = 0


def scan_for_resume(path: Path, known: Container[str] | None, retry_failed: bool) -> Scan:
    scan = Scan()
    tail = _Tail()
    try:
        with path.open("rb") as fh:
            for lineno, row in _complete_rows(fh, str(path), OutputError, tail):
                _check_resumed(row, lineno, path, scan, known)
                row_id, failed = row["id"], row.get("status") == "failed"
                if row_id is None:
                    if isinstance(row.get("where"), str):
                        scan.wheres.add(row["where"])
                elif failed and retry_failed:
                    scan.retry.add(str(row_id))
                    scan.retry_lines.add(lineno)
                else:
                    scan.ids.add(str(row_id))
                    scan.failed_kept += failed
    except OSError as exc:
        raise OutputError(
            f"cannot read output to resume: {exc.strerror}", where=str(path)
        ) from None
    scan.good_end = tail.good_end
    return scan


def _check_resumed(
    row: dict[str, Any], lineno: int, path: Path, scan: Scan, known: Container[str] | None
) -> None:
    where = f"{path}:{lineno}"
    if "id" not in row:
        raise OutputError(
            f"line {lineno} has no 'id'",
            where=where,
            hint="this is not an llmlabel output file; use --overwrite or another path",
        )
    if row["id"] is None:
        return
    row_id = str(row["id"])
    if row_id in scan.ids or row_id in scan.retry:
        raise OutputError(
            f"line {lineno} repeats id '{row_id}'",
            where=where,
            hint="one run writes one row per id; start again with --overwrite or a new output",
        )
    if known is not None and row_id not in known:
        raise OutputError(
            f"line {lineno} has id '{row_id}', which is not in the input",
            where=where,
            hint="resume with the input this output was labeled from; else use --overwrite "
            "or a new output",
        )


def _complete_rows(
    fh: IO[bytes],
    name: str,
    error: type[LLMLabelError],
    tail: _Tail,
    *,
    unterminated: bool = False,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each complete line; a bad last line is a partial write and is
    skipped (``tail.good_end`` marks where it starts); a bad line before the end is an error.
    A blank line is skipped: it is not a row, and JSON cannot be split by a newline.
    ``unterminated``: a last line without a newline is a row if it parses (readers; the sink
    itself keeps only newline-terminated lines, since it appends after them)."""
    offset = 0
    for lineno, raw in enumerate(fh, start=1):
        offset += len(raw)
        complete = raw.endswith(b"\n")
        if complete and not raw.strip():
            tail.good_end = offset
            continue
        row, problem = (
            _parse(raw)
            if complete or unterminated
            else (None, "no newline at the end (partial write)")
        )
        if row is not None:
            yield lineno, row
            tail.good_end = offset
            continue
        if any(rest.strip(_JUNK) for rest in fh):
            raise error(
                f"line {lineno} is corrupt: {problem}",
                where=f"{name}:{lineno}",
                hint="fix or delete that line, or start again with --overwrite",
            )
        return


def _parse(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        row = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        return None, str(exc)
    return (row, "") if isinstance(row, dict) else (None, "not a JSON object")
