"""Write a silver set: a Hugging Face ``datasets`` folder, Parquet, JSONL, CSV or chat SFT JSONL.

Where it goes: ``hf``, and any format with a train/validation split, make a folder (splits as
``train.*``/``validation.*``, the card as ``README.md``); otherwise one file with its card beside
it (``out.jsonl`` → ``out.card.md``). Everything is written to a hidden staging folder next to
the output and moved into place at the end, so a failed export never leaves half a dataset.

Class columns (``ClassNames``: column → class names) become ``ClassLabel`` features in ``hf``,
a ``List(ClassLabel)`` where the column holds lists (NER ``ner_tags``); elsewhere they stay
strings. NER columns that hold no value at all (a split without any entity) get their usual
Arrow type, so every split has the same schema.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlabel.core.card import MARKER
from llmlabel.errors import OutputError

FORMATS = ("hf", "parquet", "jsonl", "csv", "sft")
SUFFIXES = {"parquet": ".parquet", "jsonl": ".jsonl", "csv": ".csv", "sft": ".jsonl"}
CARD = "README.md"

Splits = Mapping[str, Sequence[Mapping[str, Any]]]
ClassNames = Mapping[str, Sequence[str]]


def _arrow_types() -> dict[str, Any]:
    import pyarrow as pa

    entity = pa.struct(
        [("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("text", pa.string())]
    )
    return {"entities": pa.list_(entity), "tokens": pa.list_(pa.string())}


@dataclass(frozen=True)
class Layout:
    """Where an export's data and card go."""

    output: Path
    format: str
    folder: bool

    @property
    def card(self) -> Path:
        return self.output / CARD if self.folder else self.output.with_suffix(".card.md")

    def data_names(self, splits: Sequence[str]) -> list[str]:
        """Names of the data files/folders, relative to the folder (or the file's name)."""
        if not self.folder:
            return [self.output.name]
        if self.format == "hf":
            return list(splits) if len(splits) > 1 else []
        return [f"{name}{SUFFIXES[self.format]}" for name in splits]


def layout(output: str | Path, fmt: str, split: bool) -> Layout:
    return Layout(Path(output), fmt, folder=fmt == "hf" or split)


def check_output(target: Layout, overwrite: bool) -> None:
    """Fail before any work if the output exists without ``overwrite``, or is not an earlier
    export: a folder with the export card in it, or a file with the export card beside it."""
    existing = [path for path in (target.output, target.card) if path.exists()]
    if not existing:
        return
    if not overwrite:
        raise OutputError(
            "output exists", where=str(existing[0]), hint="use --overwrite to replace it"
        )
    output = target.output
    if not (_is_export_folder(output) if output.is_dir() else _is_export_file(output)):
        what = "folder" if output.is_dir() else "file"
        raise OutputError(
            f"output is a {what} that llmlabel export did not write; refusing to replace it",
            where=str(output),
            hint="--overwrite replaces only an earlier export; choose a new output path, "
            "or delete it yourself",
        )


def write_export(target: Layout, splits: Splits, card: str, classes: ClassNames) -> None:
    """Write ``splits`` (rows per split) and the card, replacing an earlier export."""
    with _staging(target.output) as stage:
        try:
            _write_data(target, splits, stage, classes)
            (stage / CARD).write_text(card, encoding="utf-8")
        except OSError as exc:
            raise OutputError(
                f"cannot write the export (disk full?): {exc.strerror or exc}",
                where=str(target.output),
            ) from None
        except OutputError as exc:  # raised without a path: name the output, not the stage
            raise OutputError(exc.message, where=str(target.output), hint=exc.hint) from None
        if target.folder:
            _replace(stage, target.output)
        else:
            _replace(stage / target.output.name, target.output)
            _replace(stage / CARD, target.card)


def _write_data(target: Layout, splits: Splits, stage: Path, classes: ClassNames) -> None:
    if target.format == "hf":
        write_hf(splits, stage, classes)
        return
    names = target.data_names(list(splits))
    for rows, file in zip(splits.values(), names, strict=True):
        write_rows(target.format, rows, stage / file)


def write_rows(fmt: str, rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """One split as a Parquet, JSONL (plain or SFT) or CSV file."""
    if fmt == "parquet":
        write_parquet(rows, path)
    elif fmt == "csv":
        write_csv(rows, path)
    else:
        write_jsonl(rows, path)


def write_jsonl(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """CSV with the union of the rows' keys; lists and objects become JSON text."""
    columns = _columns(rows)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(row.get(c)) for c in columns])


def write_parquet(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(_table(rows), path)


def write_hf(splits: Splits, folder: Path, classes: ClassNames) -> None:
    """``save_to_disk`` a Dataset (one split) or DatasetDict, with ``classes`` as ClassLabels.

    Built in memory from the selected rows; for sets larger than memory export Parquet and
    load it with ``load_dataset("parquet", ...)``.
    """
    from datasets import ClassLabel, Dataset, DatasetDict, Features, List

    parts = {}
    for name, rows in splits.items():
        encoded = [{**row, **_encoded(row, classes)} for row in rows]
        table = _table(encoded)
        features = Features.from_arrow_schema(table.schema)
        for column, names in classes.items():
            label = ClassLabel(names=list(names))
            sequence = any(isinstance(row.get(column), list) for row in rows)
            features[column] = List(label) if sequence else label
        parts[name] = Dataset.from_dict(table.to_pydict(), features=features)
    with _quiet_datasets():
        if len(parts) == 1:
            next(iter(parts.values())).save_to_disk(str(folder))
        else:
            DatasetDict(parts).save_to_disk(str(folder))


def _encoded(row: Mapping[str, Any], classes: ClassNames) -> dict[str, Any]:
    """The row's class columns as class indices (a list column: each element)."""
    encoded: dict[str, Any] = {}
    for column, names in classes.items():
        index = {name: i for i, name in enumerate(names)}
        value: Any = row.get(column)
        encoded[column] = [index[v] for v in value] if isinstance(value, list) else index.get(value)
    return encoded


def _table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """An Arrow table built column by column, so a key missing from the first row still
    becomes a column and a column with mixed types is named in the error."""
    import pyarrow as pa

    types = _arrow_types()
    columns = {}
    for name in _columns(rows):
        try:
            column = pa.array([row.get(name) for row in rows])
            if name in types and _untyped(column.type):  # e.g. no entity in this split
                column = column.cast(types[name])
            columns[name] = column
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise OutputError(
                f"column '{name}' holds values of different types ({exc})",
                hint="export jsonl or csv, or give the field one type in every input record",
            ) from None
    return pa.table(columns)


def _untyped(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_null(kind) or (pa.types.is_list(kind) and _untyped(kind.value_type)))


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row))


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Hide datasets' progress bars (the CLI prints its own summary), then restore them."""
    import datasets

    disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not disabled:
            datasets.enable_progress_bars()


@contextlib.contextmanager
def _staging(output: Path) -> Iterator[Path]:
    stage = output.parent / f".{output.name}.llmlabel-{os.getpid()}"
    try:
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
    except OSError as exc:
        raise OutputError(
            f"cannot write output: {exc.strerror or exc}",
            where=str(output),
            hint="choose another output path or fix the folder's permissions",
        ) from None
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _replace(source: Path, target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    os.replace(source, target)


def _is_export_folder(path: Path) -> bool:
    return not any(path.iterdir()) or _has_marker(path / CARD)


def _is_export_file(path: Path) -> bool:
    """An export file, or the card of one whose data file is gone: its card is beside it."""
    return _has_marker(path.with_suffix(".card.md"))


def _has_marker(card: Path) -> bool:
    try:
        return card.is_file() and MARKER in card.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
