"""Stream input records from JSONL, CSV/TSV, Parquet and Hugging Face datasets:
``read_records`` gives each row of a source (``llmlabel.io.sources``, one stream per format)
its id, and ``check_fields`` checks that a record has the task's fields.

Every reader is a generator that holds one line, row or batch at a time, so memory stays flat
for millions of records. Every error names the file and line (or row) and says how to fix it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlabel.errors import InputError
from llmlabel.io.sources import Rows, open_source


@dataclass(frozen=True)
class InputRecord:
    """One input record: its id (always a string), its fields, and where it came from.

    With ``read_records(..., keep_bad=True)`` a line that cannot be read becomes a record with
    ``error`` set (and an empty id and data), so a run can skip it and go on.
    """

    id: str
    data: dict[str, Any]
    where: str
    error: InputError | None = None


def read_records(
    source: str | Path,
    *,
    id_field: str = "id",
    limit: int | None = None,
    keep_bad: bool = False,
) -> Iterator[InputRecord]:
    """Stream the records of ``source`` (see ``llmlabel.io.sources.FORMATS``).

    A missing or unreadable source fails here, before the first record; a malformed line fails
    when the iteration reaches it, or with ``keep_bad`` comes out as a record with ``error``
    set. Records without ``id_field`` get their 0-based row number (bad lines count as rows, so
    ids do not shift when one is fixed).
    """
    if limit is not None and limit < 0:
        raise ValueError("limit must be >= 0")
    rows, name = open_source(source)
    return _records(rows, name, id_field, limit, keep_bad)


def peek(
    records: Iterable[InputRecord], n: int, fields: Sequence[str]
) -> tuple[list[InputRecord], Iterator[InputRecord]]:
    """The readable records among the first ``n`` (each field of ``fields`` there), and all
    the records again, from the first."""
    records = iter(records)
    first = list(itertools.islice(records, n))
    usable = []
    for record in first:
        try:
            if record.error is None:
                check_fields(record, fields)
                usable.append(record)
        except InputError:
            pass  # the run reports it when it comes to it
    return usable, itertools.chain(first, records)


def check_fields(record: InputRecord, fields: Sequence[str]) -> None:
    """Raise ``InputError`` if one of ``fields`` is missing from ``record`` or empty."""
    for name in fields:
        if name not in record.data:
            available = ", ".join(sorted(record.data)) or "none"
            raise InputError(
                f"record '{record.id}' has no field '{name}'",
                where=record.where,
                hint=f"its fields are: {available}; set `fields:` in the task file to match",
            )
        if _is_empty(record.data[name]):
            raise InputError(
                f"record '{record.id}' has an empty '{name}'",
                where=record.where,
                hint="fill it in or remove the record from the input",
            )


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, (list, tuple, dict)) and not value


def _records(
    rows: Rows, name: str, id_field: str, limit: int | None, keep_bad: bool
) -> Iterator[InputRecord]:
    if limit == 0:
        return
    count = 0
    for data, where in rows:
        try:
            if isinstance(data, InputError):
                raise data
            yield InputRecord(id=_record_id(data, id_field, count, where), data=data, where=where)
        except InputError as exc:
            if not keep_bad:
                raise
            yield InputRecord(id="", data={}, where=where, error=exc)
        count += 1
        if count == limit:
            return
    if count == 0:
        raise InputError(
            f"no records in {name}", where=name, hint="the input is empty; check the path"
        )


def _record_id(data: dict[str, Any], id_field: str, row: int, where: str) -> str:
    if id_field not in data:
        return str(row)
    value = data[id_field]
    finite = not isinstance(value, float) or math.isfinite(value)
    what = repr(value) if isinstance(value, float) else type(value).__name__
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not finite:
        raise InputError(
            f"id field '{id_field}' is {what}, not a string or number",
            where=where,
            hint="give every record a string or integer id, or set `id_field:` in the task file",
        )
    text = str(value).strip()
    if not text:
        raise InputError(
            f"id field '{id_field}' is empty",
            where=where,
            hint="give every record an id, or drop the column to number records by row",
        )
    return text
