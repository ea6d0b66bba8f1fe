"""The calibration file: round trip, sha256, and one-line errors for broken files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmlabel.core.calibration import Platt
from llmlabel.core.crossfit import BeforeAfter
from llmlabel.errors import ConfigError
from llmlabel.io.calibfile import (
    CalibrationFile,
    Source,
    read_calibration,
    sha256,
    write_calibration,
)


def sample() -> CalibrationFile:
    return CalibrationFile(
        kind="classification",
        map=Platt(a=1.2, b=-0.3),
        selection=None,
        held_out=BeforeAfter(
            records=10, bins=10, ece_before=0.2, ece_after=0.1, brier_before=0.2, brier_after=0.1
        ),
        fitted_on=9,
        holdout=0.5,
        seed=0,
        predictions=Source(path="p.jsonl", sha256="0" * 64),
        gold=Source(path="g.jsonl", sha256="1" * 64),
        created_at="2026-01-01T00:00:00+00:00",
        used_ids=("a", "b"),
    )


def test_round_trip_with_hash(tmp_path: Path) -> None:
    path = write_calibration(tmp_path / "sub" / "calib.json", sample())
    loaded = read_calibration(path)
    assert loaded.file == sample() and loaded.sha256 == sha256(path.read_bytes())
    assert loaded.provenance() == {
        "file": "calib.json", "sha256": loaded.sha256, "method": "platt", "threshold": None
    }  # fmt: skip
    assert loaded.file.router().threshold is None
    assert not list(tmp_path.glob("sub/*.tmp"))


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "is not JSON"),
        ('{"labels": []}', "not an llmlabel calibration file"),
        ('{"format": "llmlabel.calibration", "version": 7}', "version 7 is not 1"),
    ],
)
def test_broken_files_are_one_line_config_errors(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "calib.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=needle) as info:
        read_calibration(path)
    assert str(path) in info.value.one_line() and "\n" not in info.value.one_line()
    assert info.value.hint and info.value.exit_code == 2


def test_an_invalid_field_is_named(tmp_path: Path) -> None:
    data = json.loads(sample().model_dump_json())
    data["map"] = {"method": "isotonic", "x": [0.2, 0.1], "y": [0.1, 0.2]}
    path = tmp_path / "calib.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"'map\.isotonic': .*strictly increasing"):
        read_calibration(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read calibration file"):
        read_calibration(tmp_path / "nope.json")
