"""Read a gold file for the commands that label its records (``compare``, ``tune``).

Gold rows hold the task's fields and the gold answer, or only ``{id, label}`` when an input
file holds the records (joined by id). The records to label keep the task's fields and the id
only, so no gold answer reaches a prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmlabel.core import evaluation
from llmlabel.errors import InputError, JoinError
from llmlabel.io.readers import InputRecord, check_fields, read_records


def read_gold(
    gold: str | Path,
    input: str | Path | None,
    id_field: str,
    fields: list[str],
    kind: str,
) -> tuple[list[str], list[Any], list[dict[str, Any]]]:
    """Gold ids, gold values and the records to label (the task's fields and the id only, so
    no gold answer reaches a prompt), in gold order."""
    rows = list(read_records(gold, id_field=id_field))
    if not rows:
        raise InputError("the gold file has no records", where=str(gold))
    ids = [r.id for r in rows]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise JoinError(f"id '{duplicates[0]}' appears twice in {gold}", hint="ids must be unique")
    labels = [evaluation.gold_label(r.id, r.data, r.where, kind) for r in rows]
    sources = rows if input is None else _join_input(input, ids, id_field)
    records = []
    for record in sources:
        try:
            check_fields(record, fields)
        except InputError as exc:
            hint = "pass --input with the records (joined by id)" if input is None else exc.hint
            raise InputError(exc.message, where=exc.where, hint=hint) from None
        records.append({id_field: record.id, **{f: record.data[f] for f in fields}})
    return ids, labels, records


def _join_input(input: str | Path, ids: list[str], id_field: str) -> list[InputRecord]:
    wanted = set(ids)
    found = {r.id: r for r in read_records(input, id_field=id_field) if r.id in wanted}
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:3])
        raise JoinError(
            f"{len(missing)} of {len(ids)} gold ids are not in {input} (e.g. {shown})",
            hint="--input must hold the records the gold labels belong to, with the same ids",
            missing_predictions=len(missing),
        )
    return [found[i] for i in ids]
