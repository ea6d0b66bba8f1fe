"""Run progress on the command line: a rich bar on a terminal, a line every
``LLMLABEL_PROGRESS_SECONDS`` elsewhere."""

from __future__ import annotations

import os
import time

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as ProgressTask
from rich.text import Text

from llmlabel.cli.app import err
from llmlabel.runs.stats import RunStats


class _RateColumn(ProgressColumn):
    def render(self, task: ProgressTask) -> Text:
        return Text(f"{task.speed:.2f} rec/s" if task.speed else "… rec/s")


class _ProgressLines:
    """Progress where there is no terminal for a bar (a notebook's ``!llmlabel``, CI, nohup):
    one line every ``LLMLABEL_PROGRESS_SECONDS`` (30 by default)."""

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.every = float(os.environ.get("LLMLABEL_PROGRESS_SECONDS", "30"))
        self.last = time.monotonic()

    def update(self, stats: RunStats) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        elapsed = now - stats.started
        rate = stats.done / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total:,}" if self.total else ""
        eta = ""
        if self.total and rate > 0:
            left = max(0, self.total - stats.done) / rate
            eta = f" · ETA {int(left // 60)}m{int(left % 60):02d}s"
        err.print(
            f"progress: {stats.done:,}{of} records · {rate:.2f} rec/s{eta} · "
            f"{stats.labeled} labeled · {stats.abstained} abstained · {stats.failed} failed"
            + (f" · {stats.skipped_bad} skipped" if stats.skipped_bad else ""),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
