"""Never write over what a command reads: paths are compared by the file they point at (through
symlinks, hard links and different spellings), not by how they are written."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from llmlabel.errors import ConfigError

Paths = Mapping[str, str | Path | None]
REPORT_FILES = ("summary.json", "report.md", "report.html")
"""What every report folder gets (and plots/)."""


def report_writes(folder: str | Path | None, names: Iterable[str] = REPORT_FILES) -> Paths:
    """The files a report ``folder`` gets, as ``check_apart`` writes: a report folder holding
    the command's inputs is fine, a report file replacing one is not."""
    return {} if folder is None else {f"--report's {n}": Path(folder) / n for n in names}


def check_apart(writes: Paths, reads: Paths, *, folders: bool = False) -> None:
    """Raise ``ConfigError`` if a path in ``writes`` is one in ``reads`` or another write
    (names say which option each came from; ``None`` entries are skipped). ``folders``: the
    writes are folders replaced whole, so a read inside one is refused too."""
    written = [(n, Path(p)) for n, p in writes.items() if p is not None]
    read = [(n, Path(p)) for n, p in reads.items() if p is not None]
    for i, (name, path) in enumerate(written):
        for other, clash in written[i + 1 :] + read:
            inside = folders and (other, clash) in read and _inside(clash, path)
            if inside or same_file(path, clash):
                raise ConfigError(
                    f"{name} would replace {other} {clash}",
                    where=str(path),
                    hint=f"write {name} to a new path; llmlabel never writes over a file "
                    "the command reads",
                )


def same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one is not there (yet): compare where they would be
        return Path(a).resolve() == Path(b).resolve()


def _inside(path: Path, folder: Path) -> bool:
    return folder.resolve() in path.resolve().parents
