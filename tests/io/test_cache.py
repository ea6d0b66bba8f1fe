from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmlabel.core.request import Completion, Sample, Usage
from llmlabel.errors import OutputError
from llmlabel.io.cache import NullCache, RequestCache, default_cache_path


def completion(text: str = '{"label": "pos"}', n: int = 1) -> Completion:
    return Completion(
        samples=tuple(Sample(text=text, finish_reason="stop", logprob=-0.25) for _ in range(n)),
        usage=Usage(prompt_tokens=120, completion_tokens=9),
        model="qwen",
    )


def connect(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path, isolation_level=None))


def test_put_get_round_trip(tmp_path: Path) -> None:
    with RequestCache.open(tmp_path / "c.sqlite") as cache:
        assert cache.get("k") is None
        original = completion(n=3)
        cache.put("k", original)
        got = cache.get("k")
        assert got is not None and got.cached
        assert got.model_copy(update={"cached": False}) == original
        assert cache.get("other") is None


def test_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "c.sqlite"  # parents are created
    with RequestCache.open(path) as cache:
        for i in range(100):
            cache.put(f"k{i}", completion(f"t{i}"))
        assert len(cache) == 100
    with RequestCache.open(path) as cache:
        assert len(cache) == 100
        got = cache.get("k42")
        assert got is not None and got.samples[0].text == "t42" and got.cached


def test_put_replaces_and_never_stores_cached_true(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with RequestCache.open(path) as cache:
        cache.put("k", completion("old"))
        cache.flush()
        hit = cache.get("k")
        assert hit is not None
        cache.put("k", hit.model_copy(update={"samples": (Sample(text="new"),)}))
        assert len(cache) == 1
    with connect(path) as conn:
        (blob,) = conn.execute("SELECT completion FROM completions").fetchone()
    stored = Completion.model_validate_json(blob)
    assert stored.samples[0].text == "new" and not stored.cached


def test_wal_mode_single_table_with_created_at(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    before = time.time()
    with RequestCache.open(path) as cache:
        cache.put("k", completion())
    with connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        assert tables == [("completions",)]
        (created,) = conn.execute("SELECT created_at FROM completions").fetchone()
    assert before - 1 <= created <= time.time() + 1


def test_commits_in_batches(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = RequestCache.open(path, flush_every=10, flush_seconds=3600)
    for i in range(25):
        cache.put(f"k{i}", completion())
    assert cache.get("k24") is not None  # buffered puts are visible to get at once
    with connect(path) as other:  # what a killed process leaves: the committed batches
        assert other.execute("SELECT COUNT(*) FROM completions").fetchone()[0] == 20
    cache.close()
    with connect(path) as other:
        assert other.execute("SELECT COUNT(*) FROM completions").fetchone()[0] == 25


KILLED = textwrap.dedent(
    """
    import os, sys
    from llmlabel.core.request import Completion, Sample
    from llmlabel.io.cache import RequestCache

    cache = RequestCache.open(sys.argv[1], flush_every=50, flush_seconds=3600)
    for i in range(120):
        cache.put(f"k{i}", Completion(samples=(Sample(text=str(i)),)))
    os.kill(os.getpid(), 9)
    """
)


def test_a_slow_trickle_of_puts_is_committed_within_seconds(tmp_path: Path) -> None:
    # a slow model answers a request every few seconds: a kill must not lose a whole batch
    path = tmp_path / "c.sqlite"
    cache = RequestCache.open(path, flush_every=1000, flush_seconds=0.05)
    cache.put("k0", completion())
    time.sleep(0.1)
    cache.put("k1", completion())  # the oldest buffered put is past flush_seconds: commit both
    cache.put("k2", completion())
    with connect(path) as other:
        assert other.execute("SELECT COUNT(*) FROM completions").fetchone()[0] == 2
    cache.close()


def test_killed_process_loses_only_uncommitted_entries(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    result = subprocess.run([sys.executable, "-c", KILLED, str(path)], check=False)
    assert result.returncode == -9
    with RequestCache.open(path) as cache:
        assert len(cache) == 100
        hit = cache.get("k99")
        assert hit is not None and hit.samples[0].text == "99"
        assert cache.get("k100") is None


def test_two_caches_share_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with RequestCache.open(path, flush_every=1) as a, RequestCache.open(path, flush_every=1) as b:
        a.put("from-a", completion("a"))
        b.put("from-b", completion("b"))
        assert a.get("from-b") is not None and b.get("from-a") is not None


def test_ten_thousand_puts_are_fast(tmp_path: Path) -> None:
    with RequestCache.open(tmp_path / "c.sqlite") as cache:
        value = completion(n=5)
        start = time.perf_counter()
        for i in range(10_000):
            cache.put(f"{i:064x}", value)
        cache.flush()
        put_seconds = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(10_000):
            assert cache.get(f"{i:064x}") is not None
        get_seconds = time.perf_counter() - start
    assert put_seconds < 3.0, f"10k puts took {put_seconds:.2f}s"
    assert get_seconds < 3.0, f"10k gets took {get_seconds:.2f}s"


def test_unparseable_entry_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with RequestCache.open(path) as cache:
        cache.put("k", completion())
    with connect(path) as conn:
        conn.execute("UPDATE completions SET completion = '{\"samples\": 3}'")
    with RequestCache.open(path) as cache:
        assert cache.get("k") is None
        cache.put("k", completion())
        assert cache.get("k") is not None


@pytest.mark.parametrize(
    "content", [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000]
)
def test_corrupt_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(content)
    with pytest.raises(OutputError) as info:
        RequestCache.open(path)
    err = info.value
    assert err.where == str(path) and "request cache" in err.message
    assert err.hint and "--no-cache" in err.hint and str(path) not in err.hint  # no "delete it"


def test_cache_folder_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(OutputError) as info:
        RequestCache.open(blocker / "c.sqlite")
    assert info.value.hint and "--no-cache" in info.value.hint


def test_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(OutputError, match="newer"):
        RequestCache.open(path)


def test_closed_cache(tmp_path: Path) -> None:
    cache = RequestCache.open(tmp_path / "c.sqlite")
    cache.close()
    cache.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        cache.get("k")
    with pytest.raises(ValueError, match="closed"):
        cache.put("k", completion())


def test_null_cache() -> None:
    with NullCache.open() as cache:
        cache.put("k", completion())
        assert cache.get("k") is None
        assert len(cache) == 0
        cache.flush()
    NullCache().close()


def test_default_cache_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMLABEL_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "mine" / "requests.sqlite"
    monkeypatch.delenv("LLMLABEL_CACHE_DIR")
    assert default_cache_path() == tmp_path / "xdg" / "llmlabel" / "requests.sqlite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / ".cache" / "llmlabel" / "requests.sqlite"
