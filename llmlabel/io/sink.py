"""Append-only JSONL output, one row per input record, that survives a kill and resumes.

Each row is written with one unbuffered ``write`` of the whole line, so a killed process can
leave at most a partial *last* line; ``--resume`` cuts that off and carries on. A failed write
(disk full) is rolled back to the last complete row before the error is raised.
``llmlabel.io.rowfile`` reads the file back.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import stat
from collections.abc import Callable, Container
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from llmlabel.errors import OutputError
from llmlabel.io.rowfile import Scan, scan_for_resume

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
    not be read, or a repeated id, skipped with ``--on-error skip``).

    An existing output is left as it was until the run *starts* (``start``: called by the
    first ``write``, or by ``close`` for a run with nothing to write): ``overwrite`` writes a
    temporary file beside the output and a resume that retries failed rows copies the other
    rows into one; either is moved over the output (``os.replace``) at the start, and removed
    if the sink is left with an error before it (``__exit__``), so the output is unchanged.
    """

    def __init__(
        self,
        path: Path,
        fd: int,
        scan: Scan,
        fsync_every: int,
        *,
        staged: Path | None = None,
        held: int | None = None,
        created: bool = False,
    ):
        self.path = path
        self.done_ids, self.done_where = scan.ids, scan.wheres
        self.resumed_rows = len(self.done_ids) + len(self.done_where)
        """Rows kept from the run this one resumes."""
        self.retried = len(scan.retry)
        """Failed rows of that run left out, so their records are labeled again."""
        self.failed_kept = scan.failed_kept
        """Failed rows of that run kept (``retry_failed=False``)."""
        self.dropped_bytes = scan.dropped
        """Bytes of a partial last line cut off when resuming (0 if the file was whole)."""
        self.rows_written = 0
        self.started = False
        self.on_start: Callable[[], None] | None = None
        """Called once the output is this run's (the run manifest is written then)."""
        self._fd: int | None = fd
        self._fsync_every = max(1, fsync_every)
        self._size = os.fstat(fd).st_size
        self._unsynced = 0
        self._staged = staged
        self._held = held  # the output's own fd, locked until the staged file replaces it
        self._created = created

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        retry_failed: bool = True,
        known_ids: Container[str] | None = None,
        fsync_every: int = FSYNC_EVERY,
    ) -> JsonlSink:
        """``retry_failed``: on resume, leave the ``failed`` rows out so their records are
        labeled again (one row per id stays true). ``known_ids``: on resume, the input's ids;
        a row with another id is refused, as is a repeated id."""
        path = Path(path)
        where = str(path)
        existing = check_output(path, resume=resume, overwrite=overwrite)
        created = not path.exists()
        fd = _open_for_append(path)
        staged: Path | None = None
        try:
            _lock(fd, where)
            _remove_stale_stages(path)
            scan = Scan()
            if existing and resume:
                scan = scan_for_resume(path, known_ids, retry_failed)
                scan.dropped = os.fstat(fd).st_size - scan.good_end
                if scan.retry:
                    staged = _stage(path, scan)
                elif scan.dropped:
                    os.ftruncate(fd, scan.good_end)
            elif existing and overwrite:
                staged = _stage(path, None)
        except OSError as exc:
            _discard(fd, staged, path if created else None)
            raise OutputError(
                f"cannot prepare output: {exc.strerror or exc}", where=where
            ) from None
        except BaseException:
            _discard(fd, staged, path if created else None)
            raise
        if staged is None:
            return cls(path, fd, scan, fsync_every, created=created)
        try:
            staged_fd = os.open(staged, os.O_WRONLY | os.O_APPEND)
            _lock(staged_fd, where)  # the output's lock passes to it when it is moved in
        except BaseException:
            _discard(fd, staged, None)
            raise
        return cls(path, staged_fd, scan, fsync_every, staged=staged, held=fd)

    def start(self) -> None:
        """Make this run's file the output (see the class doc); then call ``on_start``."""
        if self.started:
            return
        if self._staged is not None:
            try:
                os.replace(self._staged, self.path)
            except OSError as exc:
                raise OutputError(
                    f"cannot replace the output: {exc.strerror or exc}", where=str(self.path)
                ) from None
            self._staged = None
            if self._held is not None:
                os.close(self._held)
                self._held = None
        self.started = True
        if self.on_start is not None:
            self.on_start()

    @property
    def rows(self) -> int:
        """Rows the output holds: kept from an earlier run and written by this one."""
        return self.resumed_rows + self.rows_written

    def write(self, row: dict[str, Any]) -> None:
        """Append ``row`` (which must have an ``id``) as one line."""
        if self._fd is None:
            raise ValueError(f"{self.path}: sink is closed")
        if "id" not in row:
            raise ValueError("an output row needs an 'id'")
        data = encode_row(row)
        self.start()
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
        """Start (if no row did) and close: the output is this run's."""
        if self._fd is None:
            return
        try:
            self.start()
        except BaseException:
            self.discard()
            raise
        fd, self._fd = self._fd, None
        try:
            if self._unsynced:
                self._unsynced = 0
                os.fsync(fd)
        except OSError as exc:
            raise _write_error(self.path, exc) from None
        finally:
            os.close(fd)  # also releases the lock

    def discard(self) -> None:
        """Close without starting, if the run has not started: the output stays as it was
        (an empty output this sink created is removed)."""
        if self.started:
            self.close()
            return
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if self._held is not None:
            os.close(self._held)
            self._held = None
        _discard(fd, self._staged, self.path if self._created else None)

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
        if exc is None:
            self.close()
        else:
            self.discard()

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


def check_output(path: Path, *, resume: bool, overwrite: bool) -> bool:
    """Refuse an output that cannot be used with these flags, before any work; return whether
    it holds rows already."""
    where = str(path)
    if resume and overwrite:
        raise OutputError(
            "--resume and --overwrite exclude each other", where=where, hint="choose one"
        )
    try:
        mode = path.stat().st_mode if path.exists() else None
    except OSError as exc:  # a name too long, a loop of symlinks
        raise OutputError(
            f"cannot use output: {exc.strerror or exc}", where=where, hint="choose another path"
        ) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError("output is a folder", where=where, hint="give a .jsonl file path")
    if mode is not None and not stat.S_ISREG(mode):  # a FIFO would block the open, a device fsync
        raise OutputError(
            "output is not a regular file (a device, FIFO or socket)",
            where=where,
            hint="give a .jsonl file path; the output is appended to, synced and resumed",
        )
    existing = _has_content(path)
    if existing and not (resume or overwrite):
        raise OutputError(
            "output exists",
            where=where,
            hint="use --resume to continue it or --overwrite to replace it",
        )
    return existing


class ListSink:
    """A sink that keeps rows in memory (``label_records``, a Ray actor's batch): nothing is
    done before the run, and rows are returned rather than written."""

    def __init__(self) -> None:
        self.done_ids: set[str] = set()
        self.done_where: set[str] = set()
        self.rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self.rows.append(row)


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


def _remove_stale_stages(path: Path) -> None:
    """Remove staged files a killed run left beside ``path``. Called holding the output's
    lock: a live run stages only while holding it, so every staged file found is stale."""
    for stale in path.parent.glob(glob.escape(f".{path.name}.llmlabel-") + "*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def _stage(path: Path, scan: Scan | None) -> Path:
    """A temporary file beside ``path`` holding its complete rows but the failed ones to
    retry (``scan``), or nothing (``None``: overwrite)."""
    staged = path.with_name(f".{path.name}.llmlabel-{os.getpid()}.tmp")
    try:
        with staged.open("wb") as out:
            if scan is not None:
                _copy_rows(path, out, scan)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            staged.unlink()
        raise
    return staged


def _copy_rows(path: Path, out: IO[bytes], scan: Scan) -> None:
    offset = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            offset += len(raw)
            if offset > scan.good_end:
                return
            if lineno not in scan.retry_lines:
                out.write(raw)


def _discard(fd: int, staged: Path | None, created: Path | None) -> None:
    """Close ``fd`` and remove what was made for a run that never started."""
    with contextlib.suppress(OSError):
        if staged is not None:
            staged.unlink()
        if created is not None and os.fstat(fd).st_size == 0:
            created.unlink()
    os.close(fd)
