"""Helpers the benchmark scripts share: timing, review-like input, medians, report footers.

Every speed number the benchmarks report is a ratio against a baseline measured in the same
invocation, with rounds alternating which side runs first (these machines are small and shared).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

WORDS = (
    "great battery life",
    "stopped working after a week",
    "friendly support and fast delivery",
    "the screen scratches far too easily",
    "exactly as described",
    "would not buy it again",
)


@dataclass
class Timing:
    """Records per wall second, and this process's CPU milliseconds per record."""

    rate: float
    cpu_ms: float


class Clock:
    """``with Clock() as clock: ...`` then ``clock.wall``/``clock.cpu`` seconds."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    def timing(self, records: int) -> Timing:
        return Timing(records / self.wall, 1000 * self.cpu / records)


def review_rows(records: int) -> list[dict[str, Any]]:
    """Short, varied customer-review records ``{"id": "r<i>", "text": ...}``."""
    return [
        {"id": f"r{i}", "text": f"Review {i}: {WORDS[i % len(WORDS)]}, {WORDS[(i * 7) % 5]}."}
        for i in range(records)
    ]


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def write_input(path: Path, records: int) -> list[dict[str, Any]]:
    """Write ``review_rows(records)`` as JSONL and return them."""
    rows = review_rows(records)
    write_jsonl(path, rows)
    return rows


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def footer(script: str, packages: Iterable[str] = ("llmlabel",)) -> list[str]:
    """Markdown lines: the command that made the report, then date, machine and versions."""
    versions = ", ".join(f"{n} {metadata.version(n)}" for n in packages if installed(n))
    return [
        f"Command: `{shlex.join(['python', script, *sys.argv[1:]])}`",
        "",
        f"Date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; "
        f"Python {platform.python_version()} on {platform.machine()} ({cores()} cores); "
        f"{versions}.",
        "",
    ]


def write_report(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {path}")
