from __future__ import annotations

import datetime as dt
import json
import os
import platform
from importlib import metadata
from pathlib import Path

import pytest

import llmlabel
from llmlabel.errors import OutputError
from llmlabel.io import manifest as manifest_module
from llmlabel.io.manifest import environment_info, manifest_path_for, write_manifest


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("out.jsonl", "out.manifest.json"),
        ("runs/a/out.jsonl", "runs/a/out.manifest.json"),
        ("data.v1.jsonl", "data.v1.manifest.json"),
        ("out.jsonl.gz", "out.manifest.json"),
        ("out", "out.manifest.json"),
    ],
)
def test_manifest_path_for(output: str, expected: str) -> None:
    assert manifest_path_for(output) == Path(expected)
    assert manifest_path_for(Path(output)) == Path(expected)


def test_write_manifest_pretty_json(tmp_path: Path) -> None:
    path = tmp_path / "new" / "out.manifest.json"  # parents are created
    data = {"status": "running", "task": {"labels": ["pos", "neg"]}, "note": "café"}
    write_manifest(path, data)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == data
    assert text.startswith('{\n  "status"') and text.endswith("}\n")
    assert "café" in text


def test_write_manifest_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "out.manifest.json"
    write_manifest(path, {"status": "running"})
    write_manifest(path, {"status": "completed", "at": dt.date(2026, 1, 2), "out": tmp_path})
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "status": "completed",
        "at": "2026-01-02",
        "out": str(tmp_path),
    }
    assert os.listdir(tmp_path) == ["out.manifest.json"]


def test_failed_replace_keeps_the_old_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.manifest.json"
    write_manifest(path, {"status": "running"})

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(manifest_module.os, "replace", fail)
    with pytest.raises(OutputError) as info:
        write_manifest(path, {"status": "completed"})
    assert info.value.where == str(path) and "No space left" in info.value.message
    assert info.value.hint
    assert json.loads(path.read_text(encoding="utf-8")) == {"status": "running"}
    assert os.listdir(tmp_path) == ["out.manifest.json"]  # the temporary file is removed


def test_unwritable_manifest(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(OutputError) as info:
        write_manifest(blocker / "out.manifest.json", {})
    assert info.value.where == str(blocker / "out.manifest.json")


def test_environment_info() -> None:
    info = environment_info()
    assert info["python"] == platform.python_version()
    assert info["platform"] == platform.platform()
    assert info["llmlabel"] == llmlabel.__version__
    assert info["packages"]["pydantic"] == metadata.version("pydantic")
    assert info["packages"]["openai"] == metadata.version("openai")
    assert info["packages"]["jinja2"] == metadata.version("jinja2")
    for name in ("xllamacpp", "vllm"):  # optional: listed only when installed
        try:
            expected: str | None = metadata.version(name)
        except metadata.PackageNotFoundError:
            expected = None
        assert info["packages"].get(name) == expected
    json.dumps(info)
