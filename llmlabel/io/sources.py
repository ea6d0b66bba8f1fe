"""Input sources, one row stream per format: JSONL, CSV/TSV (each optionally gzipped),
Parquet, a ``Dataset.save_to_disk`` folder and the Hugging Face Hub. ``open_source`` picks the
format; ``llmlabel.io.readers`` turns the rows into records.

Every stream holds one line, row or batch at a time, so memory stays flat for millions of
records. Every error names the file and line (or row) and says how to fix it.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from llmlabel.errors import InputError

FORMATS = (
    ".jsonl, .ndjson, .csv, .tsv (each optionally .gz), .parquet, "
    "a folder written by Dataset.save_to_disk, or hf:<name>[:<split>] / hf:<name>:<config>:<split>"
)
_JSONL = (".jsonl", ".ndjson")
_DELIMITERS = {".csv": ",", ".tsv": "\t"}
_BATCH = 1024
MAX_DEPTH = 64
"""Deepest nesting of lists/objects a record may have: deeper ones are bad records, not a
RecursionError somewhere downstream."""
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")

# (row data, where) pairs from one source, plus the source's display name; a line that cannot
# be read is an InputError in place of its data, so the reader can go on past it.
Rows = Iterator[tuple[dict[str, Any] | InputError, str]]


def open_source(source: str | Path) -> tuple[Rows, str]:
    """The rows of ``source`` (see ``FORMATS``) and its display name; a missing source or an
    unknown format fails here, before the first row."""
    if isinstance(source, str) and source.startswith("hf:"):
        return _hub_rows(source), source
    path = Path(source)
    name = str(source)
    if not path.exists():
        raise InputError("input not found", where=name, hint="check the path")
    if path.is_dir():
        return _disk_dataset_rows(path, name), name
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    ext = suffixes[-2] if compressed and len(suffixes) == 2 else (suffixes[-1] if suffixes else "")
    if ext in _JSONL:
        return _jsonl_rows(path, name, compressed), name
    if ext in _DELIMITERS:
        return _csv_rows(path, name, compressed, _DELIMITERS[ext]), name
    if ext == ".parquet" and not compressed:
        return _parquet_rows(path, name), name
    hint = f"use one of: {FORMATS}"
    if ext == ".json":
        hint += "; convert a JSON array to JSONL with: jq -c '.[]' in.json > in.jsonl"
    raise InputError(
        f"unknown input format '{''.join(suffixes) or path.name}'", where=name, hint=hint
    )


def _text_lines(
    path: Path, name: str, compressed: bool
) -> Iterator[tuple[int, str, InputError | None]]:
    """(1-based line number, line, problem) decoded as UTF-8 one line at a time, so a bad byte
    is reported on its own line (the line then comes with U+FFFD in place of bad bytes and the
    problem set); a BOM at the start of the file is dropped. A UTF-16/32 file fails at once:
    every line of it would be bad."""
    lineno = 0
    try:
        with gzip.open(path, "rb") if compressed else path.open("rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if lineno == 1:
                    _check_not_utf16(raw, name)
                try:
                    line, problem = raw.decode("utf-8"), None
                except UnicodeDecodeError as exc:
                    line = raw.decode("utf-8", errors="replace")
                    problem = InputError(
                        f"not valid UTF-8 (byte {exc.start + 1} of the line)",
                        where=f"{name}:{lineno}",
                        hint="save the file as UTF-8",
                    )
                if lineno == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                yield lineno, line, problem
    except (OSError, EOFError) as exc:
        where = f"{name}:{lineno + 1}" if lineno else name
        hint = "is it really gzip-compressed?" if compressed else None
        raise InputError(f"cannot read input: {exc}", where=where, hint=hint) from None


def _check_not_utf16(first: bytes, name: str) -> None:
    utf16 = first.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in first[:4]
    if utf16 and first.strip(b"\x00\r\n"):
        raise InputError(
            "the file looks like UTF-16 or UTF-32, not UTF-8",
            where=f"{name}:1",
            hint="save it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8 in > out)",
        )


def _jsonl_rows(path: Path, name: str, compressed: bool) -> Rows:
    for lineno, line, problem in _text_lines(path, name, compressed):
        where = f"{name}:{lineno}"
        if problem is not None:
            yield problem, where
        elif line.strip():
            yield _json_object(line, where), where


def _json_object(line: str, where: str) -> dict[str, Any] | InputError:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return InputError(
            f"malformed JSON: {exc.msg} (column {exc.colno})",
            where=where,
            hint="each line must be one complete JSON object",
        )
    except RecursionError:
        return _too_deep(where)
    except ValueError as exc:  # an integer literal longer than Python's int-str limit
        return InputError(
            f"unreadable JSON: {str(exc).split(';')[0]}",
            where=where,
            hint="write huge numbers as strings",
        )
    if not isinstance(data, dict):
        return InputError(
            f"line is a JSON {_json_kind(data)}, not an object",
            where=where,
            hint='each line must be one JSON object, like {"id": "1", "text": "..."}',
        )
    if line.count("[") + line.count("{") > MAX_DEPTH and _depth(data) > MAX_DEPTH:
        return _too_deep(where)
    if _SURROGATE.search(line) and _has_lone_surrogate(data):
        return InputError(
            "a string holds a lone UTF-16 surrogate escape (like \\ud800)",
            where=where,
            hint="such text is not valid Unicode; fix or drop the record",
        )
    return data


def _too_deep(where: str) -> InputError:
    return InputError(
        f"values nested deeper than {MAX_DEPTH} levels",
        where=where,
        hint="flatten the record; a record's fields are text for the prompt",
    )


def _depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (iterative: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                values = item.values() if isinstance(item, dict) else item
                stack += [(v, level + 1) for v in values]
    return deepest


def _has_lone_surrogate(data: dict[str, Any]) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_kind(value: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _csv_rows(path: Path, name: str, compressed: bool, delimiter: str) -> Rows:
    _allow_long_fields()
    problems: list[InputError] = []  # undecodable lines of the record being read

    def lines() -> Iterator[str]:
        for _, line, problem in _text_lines(path, name, compressed):
            if problem is not None:
                problems.append(problem)
            yield line

    # strict: a stray or unclosed quote is an error, not a field that swallows the next lines.
    reader = csv.reader(lines(), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    start = 1  # the line where the current record starts (a quoted field can span lines)
    while True:
        where = f"{name}:{start}"
        try:
            row: list[str] | InputError = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row = InputError(f"bad CSV: {exc}", where=where, hint="check the quoting")
        start = reader.line_num + 1
        if problems:
            row = problems[0]
            problems.clear()
        if row == []:
            continue
        if header is None:
            if isinstance(row, InputError):
                raise row  # without a header no later row can be read
            header = _check_header(row, where)
        elif isinstance(row, InputError):
            yield row, where
        elif len(row) != len(header):
            problem = f"row has {len(row)} columns, the header has {len(header)}"
            hint = "quote fields that contain the delimiter or line breaks"
            yield InputError(problem, where=where, hint=hint), where
        else:
            yield dict(zip(header, row, strict=True)), where


def _check_header(header: list[str], where: str) -> list[str]:
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise InputError(
                f"duplicate column '{column}' in the header",
                where=where,
                hint="give every column a distinct name",
            )
        seen.add(column)
    return header


def _allow_long_fields() -> None:
    # Documents longer than csv's default 128 KiB field limit are legitimate input.
    limit = 2**31 - 1
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)


def _parquet_rows(path: Path, name: str) -> Rows:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pre_buffer (pyarrow's default) reads every row group up front: the whole file.
        parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            f"cannot read Parquet: {exc}", where=name, hint="is it a Parquet file?"
        ) from None
    return _numbered(_batches(parquet, name), name)


def _batches(parquet: Any, name: str) -> Iterator[dict[str, Any]]:
    import pyarrow as pa

    with parquet:
        try:
            for batch in parquet.iter_batches(batch_size=_BATCH):
                yield from batch.to_pylist()
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"cannot read Parquet: {exc}", where=name) from None


def _numbered(rows: Iterable[dict[str, Any]], name: str) -> Rows:
    for row, data in enumerate(rows):
        yield data, f"{name} row {row}"


def _disk_dataset_rows(path: Path, name: str) -> Rows:
    if (path / "dataset_dict.json").is_file():
        splits = sorted(p.name for p in path.iterdir() if (p / "state.json").is_file())
        raise InputError(
            "folder holds a DatasetDict; point at one of its splits",
            where=name,
            hint="use " + " or ".join(str(path / s) for s in splits[:3]),
        )
    if not (path / "state.json").is_file():
        raise InputError(
            "folder is not a dataset written by Dataset.save_to_disk (no state.json)",
            where=name,
            hint=f"use one of: {FORMATS}",
        )
    from datasets import load_from_disk

    try:
        # Memory-mapped Arrow: iterating reads it in chunks, so memory stays flat.
        dataset = load_from_disk(str(path))
    except Exception as exc:  # datasets raises many kinds; report it in one line
        raise InputError(f"cannot load dataset: {_first_line(exc)}", where=name) from None
    return _numbered(dataset, name)


_HUB_HINT = (
    "check the name, config and split and that the Hub is reachable "
    "(or save the dataset with Dataset.save_to_disk and pass the folder)"
)


def _hub_rows(source: str) -> Rows:
    parts = source[3:].split(":")
    if len(parts) > 3 or not all(parts):
        raise InputError(
            "bad Hugging Face dataset reference",
            where=source,
            hint="use hf:<name>, hf:<name>:<split> or hf:<name>:<config>:<split>",
        )
    name = parts[0]
    config = parts[1] if len(parts) == 3 else None
    split = parts[-1] if len(parts) > 1 else "train"
    from datasets import load_dataset

    try:
        dataset = load_dataset(name, config, split=split, streaming=True)
    except Exception as exc:  # network, auth, unknown name or split: all end the same way
        raise InputError(
            f"cannot load Hugging Face dataset '{name}': {_first_line(exc)}",
            where=source,
            hint=_HUB_HINT,
        ) from None
    return _numbered(_streamed(dataset, name, source), source)


def _streamed(
    dataset: Iterable[dict[str, Any]], name: str, source: str
) -> Iterator[dict[str, Any]]:
    # A streaming dataset fetches lazily, so the network can also fail mid-way.
    try:
        yield from dataset
    except Exception as exc:
        raise InputError(
            f"cannot read Hugging Face dataset '{name}': {_first_line(exc)}",
            where=source,
            hint=_HUB_HINT,
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
