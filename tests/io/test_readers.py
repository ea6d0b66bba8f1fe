from __future__ import annotations

import csv
import gzip
import inspect
import json
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from llmlabel.errors import InputError
from llmlabel.io.readers import InputRecord, check_fields, read_records


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def records(source: str | Path, **kwargs: Any) -> list[InputRecord]:
    return list(read_records(source, **kwargs))


def input_error(source: str | Path, **kwargs: Any) -> InputError:
    with pytest.raises(InputError) as info:
        records(source, **kwargs)
    return info.value


# --- JSONL -----------------------------------------------------------------------------------


def test_jsonl_ids_data_and_where(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "x"}, {"id": 7, "text": "y"}])
    got = records(path)
    assert got == [
        InputRecord(id="a", data={"id": "a", "text": "x"}, where=f"{path}:1"),
        InputRecord(id="7", data={"id": 7, "text": "y"}, where=f"{path}:2"),
    ]


def test_missing_id_field_gives_row_number(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": "x"}, {"text": "y"}, {"text": "z"}])
    assert [r.id for r in records(path)] == ["0", "1", "2"]


def test_custom_id_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"uid": 10, "id": "ignored"}])
    assert records(path, id_field="uid")[0].id == "10"


def test_blank_lines_skipped_and_line_numbers_kept(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('\n{"text": "a"}\n   \n\n{"text": "b"}\n\n', encoding="utf-8")
    got = records(path)
    assert [r.where for r in got] == [f"{path}:2", f"{path}:5"]
    assert [r.id for r in got] == ["0", "1"]


def test_jsonl_bom_and_no_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": 1, "text": "caf\xc3\xa9"}\n{"id": 2, "text": "b"}')
    got = records(path)
    assert [r.id for r in got] == ["1", "2"]
    assert got[0].data["text"] == "café"


def test_ndjson_and_gzip(tmp_path: Path) -> None:
    rows = [{"id": i, "text": f"t{i}"} for i in range(3)]
    nd = write_jsonl(tmp_path / "in.ndjson", rows)
    gz = tmp_path / "in.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    assert [r.data for r in records(nd)] == rows
    assert [r.data for r in records(gz)] == rows
    assert records(gz)[2].where == f"{gz}:3"


def test_limit(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": str(i)} for i in range(10)])
    assert [r.id for r in records(path, limit=3)] == ["0", "1", "2"]
    assert records(path, limit=0) == []
    assert len(records(path, limit=100)) == 10
    with pytest.raises(ValueError):
        read_records(path, limit=-1)


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\n{"id": 3,, "text": "x"}\n', encoding="utf-8")
    err = input_error(path)
    assert err.where == f"{path}:3"
    assert "malformed JSON" in err.message and "column 10" in err.message
    assert err.hint
    assert str(err).startswith(f"{path}:3: malformed JSON")


@pytest.mark.parametrize(
    ("line", "kind"), [("[1, 2]", "array"), ('"text"', "string"), ("3", "number"), ("null", "null")]
)
def test_jsonl_line_not_an_object(tmp_path: Path, line: str, kind: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(f'{{"id": 1}}\n{line}\n', encoding="utf-8")
    err = input_error(path)
    assert err.where == f"{path}:2"
    assert err.message == f"line is a JSON {kind}, not an object"
    assert err.hint and "object" in err.hint


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": 1}\n' * 5000 + b'{"id": "\xff"}\n')
    err = input_error(path)
    assert err.where == f"{path}:5001"
    assert "UTF-8" in err.message and err.hint == "save the file as UTF-8"


def test_not_really_gzip(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    path.write_text('{"id": 1}\n', encoding="utf-8")
    err = input_error(path)
    assert err.where is not None and err.where.startswith(str(path))
    assert err.hint and "gzip" in err.hint


def test_file_not_found_fails_before_iteration(tmp_path: Path) -> None:
    path = tmp_path / "missing.jsonl"
    with pytest.raises(InputError) as info:
        read_records(path)  # no iteration: the error comes at once
    assert info.value.message == "input not found"
    assert info.value.where == str(path)
    assert info.value.hint


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_jsonl(tmp_path: Path, content: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(content, encoding="utf-8")
    err = input_error(path)
    assert err.message == f"no records in {path}"
    assert err.where == str(path)


@pytest.mark.parametrize(
    ("value", "problem"), [(True, "bool"), ({"a": 1}, "dict"), ([1], "list"), (None, "NoneType")]
)
def test_bad_id_type(tmp_path: Path, value: Any, problem: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": "ok"}, {"id": value}])
    err = input_error(path)
    assert err.where == f"{path}:2"
    assert problem in err.message and "id_field" in (err.hint or "")


def test_empty_id(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": "  "}])
    err = input_error(path)
    assert err.where == f"{path}:1" and "empty" in err.message


@pytest.mark.parametrize("name", ["data.json", "data.txt", "data", "data.xlsx", "data.parquet.gz"])
def test_unknown_extension_lists_formats(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_records(path)
    err = info.value
    assert err.message.startswith("unknown input format")
    assert err.where == str(path)
    assert err.hint is not None
    for fmt in (".jsonl", ".csv", ".tsv", ".parquet", "save_to_disk", "hf:"):
        assert fmt in err.hint
    if name.endswith(".json"):
        assert "jq" in err.hint


# --- streaming --------------------------------------------------------------------------------


def test_reader_is_lazy(tmp_path: Path) -> None:
    """A bad line far down is only reached when the iteration gets there."""
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\nnot json\n', encoding="utf-8")
    stream = read_records(path)
    assert inspect.isgenerator(stream)
    assert next(stream).id == "1"
    assert next(stream).id == "2"
    with pytest.raises(InputError):
        next(stream)


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
def test_first_record_of_a_big_file_reads_little(tmp_path: Path, kind: str) -> None:
    n, text = 40_000, "lorem ipsum dolor sit amet " * 20  # about 22 MB of text
    path = tmp_path / f"big.{kind}"
    if kind == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"id": i, "text": text}) + "\n" for i in range(n))
    elif kind == "csv":
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "text"])
            writer.writerows((i, text) for i in range(n))
    else:  # distinct random texts, so compression cannot shrink the file much
        texts = [os.urandom(300).hex() for _ in range(n)]
        pq.write_table(pa.table({"id": range(n), "text": texts}), path, row_group_size=4096)
    assert path.stat().st_size > 20_000_000
    arrow_before = pa.total_allocated_bytes()
    tracemalloc.start()
    try:
        stream = read_records(path)
        first = next(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    arrow = pa.total_allocated_bytes() - arrow_before  # Arrow's own pool, outside tracemalloc
    assert first.id == "0"
    assert peak < 5_000_000, f"reading one record allocated {peak} bytes"
    assert arrow < 10_000_000, f"reading one record held {arrow} bytes of Arrow memory"


# --- CSV / TSV --------------------------------------------------------------------------------


def test_csv_basic_with_bom_and_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b'\xef\xbb\xbfid,text\r\n1,"hello, world"\r\n2,"two\r\nlines"\r\n3,plain\r\n')
    got = records(path)
    assert [r.id for r in got] == ["1", "2", "3"]
    assert got[0].data == {"id": "1", "text": "hello, world"}
    assert got[1].data["text"] == "two\r\nlines"
    assert [r.where for r in got] == [f"{path}:2", f"{path}:3", f"{path}:5"]


def test_tsv_and_gz(tmp_path: Path) -> None:
    tsv = tmp_path / "in.tsv"
    tsv.write_text("text\tlabel\na, b\tpos\nc\tneg\n", encoding="utf-8")
    got = records(tsv)
    assert [r.data for r in got] == [
        {"text": "a, b", "label": "pos"},
        {"text": "c", "label": "neg"},
    ]
    assert [r.id for r in got] == ["0", "1"]
    gz = tmp_path / "in.csv.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write("id,text\n9,x\n")
    assert records(gz)[0].id == "9"


def test_csv_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,text\n1,a\n\n2,b\n", encoding="utf-8")
    assert [(r.id, r.where) for r in records(path)] == [("1", f"{path}:2"), ("2", f"{path}:4")]


@pytest.mark.parametrize(
    ("row", "found"),
    [("3,c,extra", 3), ("3", 1), ("3,c,d,e", 4)],
    ids=["one-more", "fewer", "more"],
)
def test_csv_wrong_column_count(tmp_path: Path, row: str, found: int) -> None:
    path = tmp_path / "in.csv"
    path.write_text(f'id,text\n1,a\n2,"multi\nline"\n{row}\n4,d\n', encoding="utf-8")
    err = input_error(path)
    assert err.where == f"{path}:5"
    assert err.message == f"row has {found} columns, the header has 2"
    assert err.hint and "quote" in err.hint


@pytest.mark.parametrize("content", ["", "id,text\n", "id,text\n\n"])
def test_empty_csv(tmp_path: Path, content: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text(content, encoding="utf-8")
    assert input_error(path).message == f"no records in {path}"


def test_csv_duplicate_header(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,text,text\n1,a,b\n", encoding="utf-8")
    err = input_error(path)
    assert err.where == f"{path}:1" and "duplicate column 'text'" in err.message


def test_csv_long_field(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    long = "x" * 300_000  # over csv's default 128 KiB field limit
    path.write_text(f"id,text\n1,{long}\n", encoding="utf-8")
    assert records(path)[0].data["text"] == long


def test_csv_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"id,text\n1,a\n2,caf\xe9\n")
    err = input_error(path)
    assert err.where == f"{path}:3" and "UTF-8" in err.message


# --- Parquet ----------------------------------------------------------------------------------


def test_parquet_round_trip(tmp_path: Path) -> None:
    rows = [
        {"id": i, "text": f"t{i}", "score": i / 2, "tags": ["a"] * (i % 3)} for i in range(2500)
    ]
    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=1000)
    got = records(path)
    assert [r.data for r in got] == rows
    assert [r.id for r in got] == [str(i) for i in range(2500)]
    assert got[1234].where == f"{path} row 1234"
    assert len(records(path, limit=5)) == 5


def test_parquet_without_id_column(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["a", "b"]}), path)
    assert [r.id for r in records(path)] == ["0", "1"]


def test_parquet_empty_and_broken(tmp_path: Path) -> None:
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), empty)
    assert input_error(empty).message == f"no records in {empty}"
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_records(broken)
    assert info.value.where == str(broken) and "Parquet" in info.value.message


# --- Hugging Face datasets --------------------------------------------------------------------


def test_save_to_disk_round_trip(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    rows = [{"id": i, "text": f"t{i}", "label": i % 2} for i in range(1500)]
    folder = tmp_path / "ds"
    Dataset.from_list(rows).save_to_disk(str(folder))
    got = records(folder)
    assert [r.data for r in got] == rows
    assert got[7].id == "7" and got[7].where == f"{folder} row 7"

    both = tmp_path / "dd"
    DatasetDict(train=Dataset.from_list(rows[:3]), test=Dataset.from_list(rows[3:5])).save_to_disk(
        str(both)
    )
    with pytest.raises(InputError) as info:
        read_records(both)
    assert info.value.where == str(both) and "DatasetDict" in info.value.message
    assert info.value.hint and str(both / "train") in info.value.hint
    assert [r.id for r in records(both / "test")] == ["3", "4"]


def test_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_records(tmp_path)
    assert info.value.where == str(tmp_path) and "save_to_disk" in info.value.message


@pytest.fixture
def hub_offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No hub access here: make datasets fail at once instead of waiting on the network."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


@pytest.mark.usefixtures("hub_offline")
@pytest.mark.parametrize(
    "source", ["hf:no-such-user/no-such-set", "hf:imdb:test", "hf:glue:sst2:x"]
)
def test_hub_dataset_that_cannot_be_fetched(source: str) -> None:
    with pytest.raises(InputError) as info:
        read_records(source)
    err = info.value
    assert err.where == source
    assert err.message.startswith("cannot load Hugging Face dataset")
    assert err.hint and "save_to_disk" in err.hint


@pytest.mark.parametrize("source", ["hf:", "hf:a:b:c:d", "hf:name:"])
def test_bad_hub_reference(source: str) -> None:
    with pytest.raises(InputError) as info:
        read_records(source)
    assert info.value.message == "bad Hugging Face dataset reference"
    assert info.value.hint and "hf:<name>:<config>:<split>" in info.value.hint


# --- check_fields -----------------------------------------------------------------------------


def test_check_fields_ok() -> None:
    check_fields(InputRecord("1", {"text": "x", "title": "y", "n": 0}, "f:1"), ["text", "n"])


def test_check_fields_missing() -> None:
    record = InputRecord("r7", {"body": "x", "title": "y"}, "in.jsonl:8")
    with pytest.raises(InputError) as info:
        check_fields(record, ["title", "text"])
    err = info.value
    assert err.message == "record 'r7' has no field 'text'"
    assert err.where == "in.jsonl:8"
    assert err.hint and "body, title" in err.hint and "fields:" in err.hint


@pytest.mark.parametrize("value", ["", "   \n\t", None, []])
def test_check_fields_empty(value: Any) -> None:
    record = InputRecord("r1", {"text": value}, "in.csv:2")
    with pytest.raises(InputError) as info:
        check_fields(record, ["text"])
    assert info.value.message == "record 'r1' has an empty 'text'"
    assert info.value.where == "in.csv:2" and info.value.hint


# --- bad lines kept (--on-error skip) -----------------------------------------------------------


def test_keep_bad_yields_bad_lines_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"text": "a"}\n{"text": \n\n[1]\n{"text": "caf\xe9"}\n'
        b'{"id": {}, "text": "x"}\n{"text": "b"}\n'
    )
    got = records(path, keep_bad=True)
    assert [(r.id, r.where, r.error is None) for r in got] == [
        ("0", f"{path}:1", True),
        ("", f"{path}:2", False),
        ("", f"{path}:4", False),
        ("", f"{path}:5", False),
        ("", f"{path}:6", False),
        ("5", f"{path}:7", True),  # bad lines count as rows: ids do not shift when fixed
    ]
    problems = [r.error.message for r in got if r.error is not None]
    assert problems[0].startswith("malformed JSON") and "not an object" in problems[1]
    assert "UTF-8" in problems[2] and "id field" in problems[3]
    assert input_error(path).where == f"{path}:2"  # without keep_bad the first one raises


def test_csv_quoting_errors_are_caught_not_swallowed(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,text\na,"fine"x\nb,ok\nc,"unclosed\nd,more\n', encoding="utf-8")
    got = records(path, keep_bad=True)
    assert [(r.id, r.where.rsplit(":", 1)[1]) for r in got] == [("", "2"), ("b", "3"), ("", "4")]
    assert all("bad CSV" in r.error.message for r in got if r.error is not None)
    assert input_error(path).where == f"{path}:2"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_utf16_or_32_is_named_at_once(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes('{"id": "a", "text": "x"}\n'.encode(encoding))
    err = input_error(path, keep_bad=True)
    assert err.where == f"{path}:1" and "UTF-16" in err.message and err.hint
