"""A SQLite cache of backend answers, keyed by the request hash (``LabelRequest.cache_key``).

Puts are buffered in memory and committed together, every ``FLUSH_EVERY`` puts, when the oldest
buffered put is ``FLUSH_SECONDS`` old, and on close: one transaction per batch is ~10x cheaper
than one per put, and the write lock is held only for the moment of the commit, so several runs
can share the default cache file. A killed process loses at most the uncommitted batch (a few
seconds of answers, however slow the model), which only means asking those requests again.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from types import TracebackType

from pydantic import ValidationError

from llmlabel.core.request import Completion
from llmlabel.errors import OutputError
from llmlabel.models import cache_dir

FLUSH_EVERY = 64
FLUSH_SECONDS = 2.0
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    completion TEXT NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID
"""


def default_cache_path() -> Path:
    """``<cache dir>/requests.sqlite``; the cache dir honours ``LLMLABEL_CACHE_DIR``."""
    return cache_dir() / "requests.sqlite"


class RequestCache:
    """Request hash → ``Completion``. Use from one thread (an asyncio loop is one thread)."""

    enabled = True

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        flush_every: int = FLUSH_EVERY,
        flush_seconds: float = FLUSH_SECONDS,
    ):
        self.path = path
        self._conn: sqlite3.Connection | None = conn
        self._pending: dict[str, tuple[str, float]] = {}
        self._flush_every = max(1, flush_every)
        self._flush_seconds = flush_seconds
        self._oldest = 0.0
        """``time.monotonic()`` of the oldest buffered put."""

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        flush_every: int = FLUSH_EVERY,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> RequestCache:
        path = Path(path)
        if path.exists() and not path.is_file():  # SQLite would put its journal beside a device
            raise _error(path, "not a request cache: not a regular file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _error(path, f"cannot create the cache folder: {exc.strerror}") from None
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            _check_is_cache(conn, path)  # before the first change to someone else's database
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise _error(path, f"cache format {version} is newer than this llmlabel's")
            conn.execute(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise _error(path, f"cannot use the request cache: {exc}") from None
        except OutputError:
            assert conn is not None
            conn.close()
            raise
        return cls(path, conn, flush_every, flush_seconds)

    def get(self, key: str) -> Completion | None:
        """The cached answer (with ``cached=True``), or None. An entry that no longer parses
        (written by another llmlabel version) counts as a miss and is replaced by the next put."""
        pending = self._pending.get(key)
        if pending is not None:
            blob = pending[0]
        else:
            try:
                found = (
                    self._db()
                    .execute("SELECT completion FROM completions WHERE key = ?", (key,))
                    .fetchone()
                )
            except sqlite3.Error as exc:
                raise _error(self.path, f"cannot read the request cache: {exc}") from None
            if found is None:
                return None
            blob = found[0]
        try:
            completion = Completion.model_validate_json(blob)
        except ValidationError:
            return None
        return completion.model_copy(update={"cached": True})

    def put(self, key: str, completion: Completion) -> None:
        self._db()
        stored = (
            completion.model_copy(update={"cached": False}) if completion.cached else completion
        )
        now = time.monotonic()
        if not self._pending:
            self._oldest = now
        self._pending[key] = (stored.model_dump_json(), time.time())
        if len(self._pending) >= self._flush_every or now - self._oldest >= self._flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Commit buffered puts in one transaction."""
        if not self._pending:
            return
        rows = [(key, blob, at) for key, (blob, at) in self._pending.items()]
        conn = self._db()
        try:
            with conn:  # BEGIN ... COMMIT, or ROLLBACK on error
                conn.execute("BEGIN")
                conn.executemany("INSERT OR REPLACE INTO completions VALUES (?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise _error(self.path, f"cannot write the request cache: {exc}") from None
        self._pending.clear()

    def close(self) -> None:
        if self._conn is None:
            return
        try:
            self.flush()
        finally:
            self._conn.close()
            self._conn = None

    def __len__(self) -> int:
        self.flush()
        try:
            count: int = self._db().execute("SELECT COUNT(*) FROM completions").fetchone()[0]
        except sqlite3.Error as exc:
            raise _error(self.path, f"cannot read the request cache: {exc}") from None
        return count

    def __enter__(self) -> RequestCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError(f"{self.path}: request cache is closed")
        return self._conn


class NullCache:
    """The cache for ``--no-cache``: remembers nothing (so callers skip hashing requests)."""

    enabled = False

    @classmethod
    def open(cls, path: str | Path | None = None) -> NullCache:
        return cls()

    def get(self, key: str) -> Completion | None:
        return None

    def put(self, key: str, completion: Completion) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __len__(self) -> int:
        return 0

    def __enter__(self) -> NullCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass


def _check_is_cache(conn: sqlite3.Connection, path: Path) -> None:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    tables = sorted(name for (name,) in rows if name != "completions")
    if tables:
        raise _error(path, f"not a request cache: a database with tables {', '.join(tables)}")


def _error(path: Path, message: str) -> OutputError:
    # Never "delete it": --cache may name a file that is not llmlabel's (an output, a database).
    return OutputError(
        message,
        where=str(path),
        hint="run with --no-cache or give --cache another file (a request cache llmlabel "
        "made holds only cached answers and may be deleted)",
    )
