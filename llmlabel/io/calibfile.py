"""The calibration file (``calib.json``) that ``llmlabel calibrate`` writes and runs read.

Versioned and validated: a file that is not one, is from a newer llmlabel, or is broken stops
with one line naming it. Runs record the file's sha256 in every row's provenance, so a
confidence can always be traced to the exact map that produced it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from llmlabel.core.calibration import CalibrationMap
from llmlabel.core.crossfit import BeforeAfter, Router
from llmlabel.core.guarantee import Selection
from llmlabel.errors import ConfigError, OutputError

FORMAT: Literal["llmlabel.calibration"] = "llmlabel.calibration"
VERSION: Literal[1] = 1
HINT = "write one with `llmlabel calibrate PREDICTIONS --gold DEV -o calib.json`"


class Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    sha256: str


class CalibrationFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["llmlabel.calibration"] = FORMAT
    version: Literal[1] = VERSION
    kind: str
    """The task kind of the predictions it was fitted on; runs of another kind refuse it."""
    map: CalibrationMap
    selection: Selection | None
    held_out: BeforeAfter
    fitted_on: int
    holdout: float
    seed: int
    predictions: Source
    gold: Source
    created_at: str
    used_ids: tuple[str, ...]
    """Ids that fitted the map or chose the threshold: `llmlabel eval --calibration` leaves
    them out, so what it reports is measured on other records."""

    def router(self) -> Router:
        threshold = self.selection.threshold if self.selection is not None else None
        return Router(self.map, threshold)


@dataclass(frozen=True)
class LoadedCalibration:
    path: Path
    sha256: str
    file: CalibrationFile

    def provenance(self) -> dict[str, object]:
        """What every row labeled with it records."""
        selection = self.file.selection
        return {
            "file": self.path.name,
            "sha256": self.sha256,
            "method": self.file.map.method,
            "threshold": selection.threshold if selection is not None else None,
        }


def check_output(path: str | Path) -> None:
    """Refuse an output that exists and is not a calibration file (an earlier one is replaced;
    anything else, a device included, is never written over)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    try:
        raw = json.loads(path.read_bytes()) if path.is_file() else None
    except (OSError, ValueError):
        raw = None
    if not (isinstance(raw, dict) and raw.get("format") == FORMAT):
        raise OutputError(
            "output exists and is not a calibration file; refusing to replace it",
            where=str(path),
            hint="choose a new --output path (an earlier calib.json is replaced)",
        )


def write_calibration(path: str | Path, calibration: CalibrationFile) -> Path:
    """Write atomically (a temporary file renamed into place)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.llmlabel-{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(calibration.model_dump_json(indent=2) + "\n", encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise OutputError(
            f"cannot write the calibration file: {exc.strerror or exc}", where=str(path)
        ) from None
    return path


def read_calibration(path: str | Path) -> LoadedCalibration:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read calibration file: {exc.strerror or exc}", where=str(path), hint=HINT
        ) from None
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"calibration file is not JSON ({exc})", where=str(path), hint=HINT
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ConfigError("not an llmlabel calibration file", where=str(path), hint=HINT)
    if raw.get("version") != VERSION:
        raise ConfigError(
            f"calibration file version {raw.get('version')!r} is not {VERSION}",
            where=str(path),
            hint="refit it with this llmlabel's `llmlabel calibrate`",
        )
    try:
        file = CalibrationFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"'{'.'.join(str(p) for p in e['loc'])}': {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(
            f"invalid calibration file: {problems}", where=str(path), hint=HINT
        ) from None
    return LoadedCalibration(path=path, sha256=sha256(data), file=file)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_source(path: str | Path) -> Source:
    return Source(path=str(path), sha256=sha256(Path(path).read_bytes()))
