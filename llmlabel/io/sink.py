"""Append-only JSONL output, one row per input record, that survives a kill and resumes.

Each row is written with one unbuffered ``write`` of the whole line, so a killed process can
leave at most a partial *last* line; ``--resume`` cuts that off and carries on. A failed write
(disk full) is rolled back to the last complete row before the error is raised.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from llmlabel.core.idset import IdSet
from llmlabel.errors import InputError, LLMLabelError, OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock, the rest works
    fcntl = None  # type: ignore[assignment]

FSYNC_EVERY = 64
"""Rows between ``fsync`` calls. Each write already reaches the OS (a killed process loses
nothing); fsync only guards against power loss, where resume re-labels the last few rows."""


class JsonlSink:
    """Open with ``JsonlSink.open``; ``done_ids`` holds the ids that were in the file when it
    was opened (what ``--resume`` skips; an ``IdSet``, ~20 bytes per id, so resuming millions
    of rows stays small; ids written since are the runner's to track), and
    ``done_where`` the ``where`` of rows without one (``"id": null``: an input line that could
    not be read, or a repeated id, skipped with ``--on-error skip``)."""

    def __init__(
        self,
        path: Path,
        fd: int,
        done: tuple[IdSet, set[str]],
        dropped_bytes: int,
        fsync_every: int,
    ):
        self.path = path
        self.done_ids, self.done_where = done
        self.resumed_rows = len(self.done_ids) + len(self.done_where)
        self.dropped_bytes = dropped_bytes
        """Bytes of a partial last line cut off when resuming (0 if the file was whole)."""
        self.rows_written = 0
        self._fd: int | None = fd
        self._fsync_every = max(1, fsync_every)
        self._size = os.fstat(fd).st_size
        self._unsynced = 0

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        fsync_every: int = FSYNC_EVERY,
    ) -> JsonlSink:
        path = Path(path)
        where = str(path)
        if resume and overwrite:
            raise OutputError(
                "--resume and --overwrite exclude each other", where=where, hint="choose one"
            )
        if path.is_dir():
            raise OutputError("output is a folder", where=where, hint="give a .jsonl file path")
        if _has_content(path) and not (resume or overwrite):
            raise OutputError(
                "output exists",
                where=where,
                hint="use --resume to continue it or --overwrite to replace it",
            )
        fd = _open_for_append(path)
        try:
            _lock(fd, where)
            done: tuple[IdSet, set[str]] = (IdSet(), set())
            dropped = 0
            if overwrite:
                os.ftruncate(fd, 0)
            elif resume:
                done, good_end = _scan_for_resume(path)
                dropped = os.fstat(fd).st_size - good_end
                if dropped:
                    os.ftruncate(fd, good_end)
        except OSError as exc:
            os.close(fd)
            raise OutputError(
                f"cannot prepare output: {exc.strerror or exc}", where=where
            ) from None
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, done, dropped, fsync_every)

    def write(self, row: dict[str, Any]) -> None:
        """Append ``row`` (which must have an ``id``) as one line."""
        if self._fd is None:
            raise ValueError(f"{self.path}: sink is closed")
        if "id" not in row:
            raise ValueError("an output row needs an 'id'")
        data = encode_row(row)
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            self._roll_back()
            raise _write_error(self.path, exc) from None
        self._size += len(data)
        self.rows_written += 1
        self._unsynced += 1
        if self._unsynced >= self._fsync_every:
            self._sync()

    def close(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._unsynced:
                self._unsynced = 0
                os.fsync(fd)
        except OSError as exc:
            raise _write_error(self.path, exc) from None
        finally:
            os.close(fd)  # also releases the lock

    @property
    def closed(self) -> bool:
        return self._fd is None

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _sync(self) -> None:
        assert self._fd is not None
        self._unsynced = 0
        try:
            os.fsync(self._fd)
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def _roll_back(self) -> None:
        """Cut a partly written line so the file ends with a complete row again."""
        assert self._fd is not None
        with contextlib.suppress(OSError):  # if this fails too, resume cuts the line off
            os.ftruncate(self._fd, self._size)


class ListSink:
    """A sink that keeps rows in memory (``label_records``, a Ray actor's batch): nothing is
    done before the run, and rows are returned rather than written."""

    def __init__(self) -> None:
        self.done_ids: set[str] = set()
        self.done_where: set[str] = set()
        self.rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


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


def encode_row(row: dict[str, Any]) -> bytes:
    """``row`` as one output line (UTF-8 JSON and a newline)."""
    line = json.dumps(row, ensure_ascii=False)
    try:
        return (line + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: \u-escape it so the line stays valid UTF-8
        return (json.dumps(row) + "\n").encode("ascii")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_error(path: Path, exc: OSError) -> OutputError:
    return OutputError(
        f"cannot write to {path} (disk full?): {exc.strerror or exc}",
        where=str(path),
        hint="free some space, then rerun with --resume; rows already written are intact",
    )


def _has_content(path: Path) -> bool:
    # An empty file holds nothing to lose, e.g. from a run that stopped before its first row.
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _open_for_append(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    except OSError as exc:
        raise OutputError(
            f"cannot write output: {exc.strerror or exc}",
            where=str(path),
            hint="choose another output path or fix the folder's permissions",
        ) from None


def _lock(fd: int, where: str) -> None:
    if fcntl is None:  # pragma: no cover
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise OutputError(
            "another process is writing this output",
            where=where,
            hint="wait for it to finish or choose another output path",
        ) from None


# After a power loss a file can end in zero-filled blocks: junk, like a partial line.
_JUNK = b" \t\r\n\x00"


@dataclass
class _Tail:
    good_end: int = 0
    """Offset just past the last complete, valid line."""


def _mark_done(row: dict[str, Any], ids: IdSet, wheres: set[str]) -> None:
    if row["id"] is not None:
        ids.add(str(row["id"]))
    elif isinstance(row.get("where"), str):
        wheres.add(row["where"])


def _scan_for_resume(path: Path) -> tuple[tuple[IdSet, set[str]], int]:
    done: tuple[IdSet, set[str]] = (IdSet(), set())
    tail = _Tail()
    try:
        with path.open("rb") as fh:
            for lineno, row in _complete_rows(fh, str(path), OutputError, tail):
                if "id" not in row:
                    raise OutputError(
                        f"line {lineno} has no 'id'",
                        where=f"{path}:{lineno}",
                        hint="this is not an llmlabel output file; use --overwrite or another path",
                    )
                _mark_done(row, *done)
    except OSError as exc:
        raise OutputError(
            f"cannot read output to resume: {exc.strerror}", where=str(path)
        ) from None
    return done, tail.good_end


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
