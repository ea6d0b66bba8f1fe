from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmlabel.core.idset import IdSet
from llmlabel.errors import InputError, OutputError
from llmlabel.io import sink as sink_module
from llmlabel.io.rowfile import iter_rows
from llmlabel.io.sink import JsonlSink


def rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": str(i), "label": "pos", "confidence": 0.5} for i in range(start, start + n)]


def write(path: Path, data: list[dict[str, Any]], **kwargs: Any) -> JsonlSink:
    with JsonlSink.open(path, **kwargs) as sink:
        for row in data:
            sink.write(row)
    return sink


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def assert_whole(path: Path) -> None:
    """Every line is complete and is a JSON object with an id."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    for line in data.splitlines():
        assert "id" in json.loads(line)


# --- writing ----------------------------------------------------------------------------------


def test_write_one_line_per_row(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "out.jsonl"  # parents are created
    sink = write(path, [{"id": "1", "text": "café ✓"}, {"id": 2, "n": None}])
    assert sink.rows_written == 2
    assert len(sink.done_ids) == 0  # done_ids: what the file held when opened
    assert sink.closed
    assert path.read_text(encoding="utf-8") == (
        '{"id": "1", "text": "café ✓"}\n{"id": 2, "n": null}\n'
    )


def test_each_row_is_one_write_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: Any) -> int:
        calls.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(sink_module.os, "write", counting_write)
    big = {"id": "big", "text": "x" * 1_000_000}
    write(tmp_path / "out.jsonl", [*rows(3), big])
    monkeypatch.undo()
    assert len(calls) == 4
    assert calls[-1] == len(json.dumps(big)) + 1


def test_fsync_cadence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(sink_module.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    sink = JsonlSink.open(tmp_path / "out.jsonl", fsync_every=3)
    for row in rows(7):
        sink.write(row)
    assert len(synced) == 2  # after rows 3 and 6
    sink.close()
    assert len(synced) == 3  # and on close, for row 7
    sink.close()  # idempotent
    assert len(synced) == 3


def test_row_needs_id_and_sink_open(tmp_path: Path) -> None:
    sink = JsonlSink.open(tmp_path / "out.jsonl")
    with pytest.raises(ValueError, match="'id'"):
        sink.write({"label": "x"})
    sink.close()
    with pytest.raises(ValueError, match="closed"):
        sink.write({"id": "1"})
    assert (tmp_path / "out.jsonl").read_bytes() == b""


def test_unserializable_row_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with JsonlSink.open(path) as sink:
        sink.write({"id": "1"})
        with pytest.raises(TypeError):
            sink.write({"id": "2", "bad": object()})
        sink.write({"id": "3"})
    assert [r["id"] for r in iter_rows(path)] == ["1", "3"]


def test_lone_surrogate_stays_valid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write(path, [{"id": "1", "text": "bad \ud800 half"}])
    path.read_bytes().decode("utf-8")  # strict: no surrogates in the file
    assert list(iter_rows(path)) == [{"id": "1", "text": "bad \ud800 half"}]


# --- open: exists / overwrite / resume / not writable ----------------------------------------


def test_exists_without_flags(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write(path, rows(2))
    with pytest.raises(OutputError) as info:
        JsonlSink.open(path)
    err = info.value
    assert err.message == "output exists" and err.where == str(path)
    assert err.hint and "--resume" in err.hint and "--overwrite" in err.hint
    assert len(lines(path)) == 2  # untouched


def test_empty_existing_file_is_reused(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.touch()
    write(path, rows(1))
    assert len(lines(path)) == 1


def test_resume_and_overwrite_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="exclude"):
        JsonlSink.open(tmp_path / "out.jsonl", resume=True, overwrite=True)


def test_overwrite_truncates(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write(path, rows(5))
    sink = write(path, rows(2, start=10), overwrite=True)
    assert len(sink.done_ids) == 0
    assert [r["id"] for r in iter_rows(path)] == ["10", "11"]


def test_resume_collects_done_ids_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write(path, rows(3))
    with JsonlSink.open(path, resume=True) as sink:
        assert same_ids(sink.done_ids, {"0", "1", "2"})
        assert sink.resumed_rows == 3 and sink.dropped_bytes == 0 and sink.rows_written == 0
        sink.write(rows(1, start=3)[0])
        assert same_ids(sink.done_ids, {"0", "1", "2"}) and sink.rows_written == 1
    assert [r["id"] for r in iter_rows(path)] == ["0", "1", "2", "3"]


def test_resume_of_missing_file_starts_fresh(tmp_path: Path) -> None:
    sink = write(tmp_path / "new.jsonl", rows(1), resume=True)
    assert len(sink.done_ids) == 0 and sink.rows_written == 1


def test_resume_accepts_int_ids_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": 1}\n\n{"id": "b"}\n', encoding="utf-8")
    with JsonlSink.open(path, resume=True) as sink:
        assert same_ids(sink.done_ids, {"1", "b"})


@pytest.mark.parametrize(
    "tail",
    [
        b'{"id": "3", "lab',  # killed mid-line
        b'{"id": "3"}',  # killed just before the newline
        b'{"id": "3", "lab\n',  # complete-looking but not JSON
        b"\x00\x00\x00\x00",  # power loss: a zero-filled tail
        b"\x00\x00\n\x00\x00",
        b"[1, 2]\n",  # not an object, and last
    ],
)
def test_resume_cuts_a_partial_last_line(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "out.jsonl"
    write(path, rows(3))
    good = path.read_bytes()
    with path.open("ab") as fh:
        fh.write(tail)
    with JsonlSink.open(path, resume=True) as sink:
        assert same_ids(sink.done_ids, {"0", "1", "2"})
        assert sink.dropped_bytes == len(tail)
        assert path.read_bytes() == good  # cut back to the last complete line
        sink.write({"id": "3", "label": "neg"})
    assert_whole(path)
    assert [r["id"] for r in iter_rows(path)] == ["0", "1", "2", "3"]
    assert lines(path)[-1] == b'{"id": "3", "label": "neg"}\n'  # on a fresh line


def test_iter_rows_skips_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write(path, rows(2))
    with path.open("ab") as fh:
        fh.write(b'{"id": "2", "x": ')
    assert [r["id"] for r in iter_rows(path)] == ["0", "1"]
    assert path.read_bytes().endswith(b'"x": ')  # reading never modifies the file


def test_iter_rows_keeps_a_whole_last_row_without_its_newline(tmp_path: Path) -> None:
    # a file written by hand or another tool often lacks the final newline: the row is data
    path = tmp_path / "corrections.jsonl"
    path.write_bytes(b'{"id": "0"}\n{"id": "1"}')
    assert [r["id"] for r in iter_rows(path)] == ["0", "1"]


@pytest.mark.parametrize(
    ("bad", "problem"),
    [(b'{"id": "x", oops}\n', "Expecting"), (b"[1]\n", "not a JSON object"), (b"\xff\n", "utf-8")],
)
def test_corrupt_middle_line(tmp_path: Path, bad: bytes, problem: str) -> None:
    path = tmp_path / "out.jsonl"
    write(path, rows(2))
    with path.open("ab") as fh:
        fh.write(bad)
    write(path, rows(2, start=2), resume=True)  # a bad last line is cut; now it is corrupt:
    with path.open("r+b") as fh:
        data = fh.read().splitlines(keepends=True)
        fh.seek(0)
        fh.write(b"".join([*data[:2], bad, *data[2:]]))
    before = path.read_bytes()
    with pytest.raises(OutputError) as info:
        JsonlSink.open(path, resume=True)
    err = info.value
    assert err.where == f"{path}:3"
    assert err.message.startswith("line 3 is corrupt") and problem in err.message
    assert err.hint and "--overwrite" in err.hint
    assert path.read_bytes() == before  # nothing cut
    with pytest.raises(InputError) as read_info:
        list(iter_rows(path))
    assert read_info.value.where == f"{path}:3"


def test_line_without_id(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": 1}\n{"label": "x"}\n', encoding="utf-8")
    with pytest.raises(OutputError) as info:
        JsonlSink.open(path, resume=True)
    assert info.value.where == f"{path}:2" and "no 'id'" in info.value.message


def test_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    path = blocker / "out.jsonl"  # a parent that is a file: cannot be created or written
    with pytest.raises(OutputError) as info:
        JsonlSink.open(path)
    assert info.value.where == str(path)
    assert info.value.message.startswith("cannot write output")
    assert info.value.hint and "permissions" in info.value.hint


def test_output_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="folder"):
        JsonlSink.open(tmp_path)


def test_second_writer_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with JsonlSink.open(path) as sink:
        sink.write({"id": "1"})
        with pytest.raises(OutputError, match="another process"):
            JsonlSink.open(path, resume=True)
    write(path, rows(1, start=5), resume=True)  # free again after close
    assert [r["id"] for r in iter_rows(path)] == ["1", "5"]


def test_iter_rows_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        list(iter_rows(tmp_path / "nope.jsonl"))
    assert info.value.where == str(tmp_path / "nope.jsonl")


# --- disk full ---------------------------------------------------------------------------------


def test_disk_full_rolls_back_the_partial_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.jsonl"
    real_write = os.write
    full = False

    def write_then_fail(fd: int, data: Any) -> int:
        if not full:
            return real_write(fd, data)
        real_write(fd, bytes(data[:10]))  # the disk fills up part-way through the line
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sink_module.os, "write", write_then_fail)
    sink = JsonlSink.open(path)
    for row in rows(3):
        sink.write(row)
    good = path.read_bytes()
    full = True
    with pytest.raises(OutputError) as info:
        sink.write({"id": "3", "text": "y" * 100})
    err = info.value
    assert err.message.startswith(f"cannot write to {path} (disk full?)")
    assert err.hint and "--resume" in err.hint
    assert path.read_bytes() == good  # the half line is gone, earlier rows intact
    assert "3" not in sink.done_ids and sink.rows_written == 3
    full = False  # space freed: the same sink carries on
    sink.write({"id": "3"})
    sink.close()
    monkeypatch.undo()
    assert [r["id"] for r in iter_rows(path)] == ["0", "1", "2", "3"]
    assert_whole(path)


# --- a real kill ------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from llmlabel.io.sink import JsonlSink

    big = "x" * int(sys.argv[2])
    with JsonlSink.open(sys.argv[1], resume=True) as sink:
        i = len(sink.done_ids)
        while True:
            sink.write({"id": str(i), "text": big[: (i * 7919) % len(big)]})
            i += 1
    """
)


@pytest.mark.parametrize("row_bytes", [200, 3_000_000])
def test_sigkill_then_resume(tmp_path: Path, row_bytes: int) -> None:
    path = tmp_path / "out.jsonl"
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(row_bytes)])
        start = path.stat().st_size if path.exists() else 0
        deadline = time.monotonic() + 30
        while (not path.exists() or path.stat().st_size < start + 4 * row_bytes) and (
            time.monotonic() < deadline
        ):
            assert proc.poll() is None, "the writer died on its own"
            time.sleep(0.01)
        time.sleep(0.01 * round_)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL

        in_file = [r["id"] for r in iter_rows(path)]
        with JsonlSink.open(path, resume=True) as sink:
            assert same_ids(sink.done_ids, set(in_file))
        assert_whole(path)  # a partial last line, if any, was cut
        assert in_file == [str(i) for i in range(len(in_file))]  # no row lost in the middle
        assert len(in_file) >= 4


# --- properties -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=6,
)
row_strategy = st.builds(
    lambda ident, extra: {**extra, "id": ident},
    st.one_of(st.text(), st.integers()),
    st.dictionaries(st.text(), json_values, max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(row_strategy, max_size=12, unique_by=lambda r: str(r["id"])))
def test_rows_round_trip(data: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out.jsonl"
        write(path, data)
        assert list(iter_rows(path)) == data
        with JsonlSink.open(path, resume=True) as again:
            assert same_ids(again.done_ids, {str(r["id"]) for r in data})
        assert len(lines(path)) == len(data)  # no row spans lines (U+2028 and the like)


@settings(max_examples=60, deadline=None)
@given(st.lists(row_strategy, min_size=1, max_size=10, unique_by=lambda r: str(r["id"])), st.data())
def test_resume_after_a_cut_at_any_byte(data: list[dict[str, Any]], draw: st.DataObject) -> None:
    """Whatever byte a kill stops at, resume keeps exactly the rows written in full."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out.jsonl"
        write(path, data)
        blob = path.read_bytes()
        cut = draw.draw(st.integers(0, len(blob)))
        path.write_bytes(blob[:cut])
        kept = blob[:cut].count(b"\n")  # rows whose newline made it
        with JsonlSink.open(path, resume=True) as sink:
            assert same_ids(sink.done_ids, {str(r["id"]) for r in data[:kept]})
            assert sink.dropped_bytes == cut - len(b"".join(lines_of(blob)[:kept]))
        assert list(iter_rows(path)) == data[:kept]
        assert_whole(path)


def lines_of(blob: bytes) -> list[bytes]:
    return blob.splitlines(keepends=True)


def test_resume_keys_id_less_rows_by_where(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with JsonlSink.open(path) as sink:
        sink.write({"id": "a", "status": "labeled"})
        sink.write({"id": None, "status": "skipped", "where": "in.jsonl:2"})
        assert len(sink.done_ids) == 0 and sink.done_where == set()
    with JsonlSink.open(path, resume=True) as sink:
        assert same_ids(sink.done_ids, {"a"}) and sink.done_where == {"in.jsonl:2"}
        assert sink.resumed_rows == 2


def same_ids(done: IdSet, expected: Iterable[str]) -> bool:
    """``IdSet`` cannot list its ids: equal size and every expected id a member."""
    wanted = set(expected)
    return len(done) == len(wanted) and all(i in done for i in wanted)


# --- overwrite and retry: nothing changes before the run starts ------------------------------


def test_overwrite_keeps_the_old_output_until_the_run_starts(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write(path, rows(3))
    old = path.read_bytes()
    with pytest.raises(RuntimeError), JsonlSink.open(path, overwrite=True) as sink:
        assert path.read_bytes() == old and not sink.started
        with pytest.raises(OutputError, match="another process"):
            JsonlSink.open(path, overwrite=True)  # the old output is locked meanwhile
        raise RuntimeError("the backend could not start")
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # the staged file is gone
    with JsonlSink.open(path, overwrite=True) as sink:
        sink.write({"id": "new"})
        assert sink.started and [r["id"] for r in iter_rows(path)] == ["new"]
        with pytest.raises(OutputError, match="another process"):
            JsonlSink.open(path, resume=True)  # the lock moved with the new file
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_a_run_that_never_starts_removes_the_output_it_created(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError), JsonlSink.open(path):
        assert path.exists()
        raise RuntimeError("no server")
    assert not path.exists()


def test_resume_leaves_failed_rows_out_to_label_them_again(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    data = [
        {**row, "status": "failed" if row["id"] in ("1", "3") else "labeled"} for row in rows(5)
    ]
    write(path, data)
    with path.open("ab") as fh:
        fh.write(b'{"id": "5", "sta')  # a partial last line
    before = path.read_bytes()
    with JsonlSink.open(path, resume=True) as sink:
        assert same_ids(sink.done_ids, {"0", "2", "4"}) and sink.retried == 2
        assert path.read_bytes() == before  # not before the run starts
        sink.write({"id": "3", "status": "labeled"})
    assert [r["id"] for r in iter_rows(path)] == ["0", "2", "4", "3"]
    assert_whole(path)
    with JsonlSink.open(path, resume=True, retry_failed=False) as sink:
        assert len(sink.done_ids) == 4 and sink.failed_kept == 0


def test_resume_refuses_repeated_and_unknown_ids(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write(path, [*rows(3), rows(1, start=1)[0]])
    with pytest.raises(OutputError) as info:
        JsonlSink.open(path, resume=True)
    assert info.value.where == f"{path}:4" and "repeats id '1'" in info.value.message
    write(path, rows(1, start=7), overwrite=True)
    with pytest.raises(OutputError, match="'7', which is not in the input"):
        JsonlSink.open(path, resume=True, known_ids={"0", "1"})
