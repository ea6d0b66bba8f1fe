"""A real Label Studio server on 127.0.0.1 for the review round-trip test.

Label Studio (~1 GB, its own pinned dependencies) lives in a separate venv, never in the
project's: created once under ``~/.cache/llmlabel/label-studio-venv`` (the environment
variable ``LLMLABEL_LABEL_STUDIO_VENV`` moves it) and reused. It is built in a sibling
folder and renamed into place only when the install succeeded, so an interrupted install is
redone rather than half-used. The first start in a fresh data folder runs its migrations
(75-105 s, see shared/INTEGRATIONS.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REQUIREMENTS = ["label-studio==1.23.2"]
VENV_ENV = "LLMLABEL_LABEL_STUDIO_VENV"
START_TIMEOUT = 420.0
_UNPREFIXED = ("HOST", "PORT", "USERNAME", "PASSWORD", "USER_TOKEN")  # LS falls back to these


def venv_path() -> Path:
    default = Path.home() / ".cache" / "llmlabel" / "label-studio-venv"
    return Path(os.environ.get(VENV_ENV) or default)


def ensure_venv() -> Path:
    """The venv's python, installing Label Studio first if this machine has not yet."""
    venv = venv_path()
    python = venv / "bin" / "python"
    if python.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be installing it
        if python.exists():
            return python
        partial = venv.with_name(venv.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(partial)], check=True)
        pip = [str(partial / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, *REQUIREMENTS], check=True, timeout=1200)
        # A venv's python finds its prefix from pyvenv.cfg beside it, so it survives the move;
        # only the console scripts' shebangs would not, and they are not used.
        os.replace(partial, venv)
    return python


@dataclass(frozen=True)
class Server:
    url: str
    token: str

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"Token {self.token}"},
            timeout=60,
            **kwargs,
        )
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json() if response.content else None


@contextlib.contextmanager
def running(data_dir: Path) -> Iterator[Server]:
    """Start Label Studio on a free loopback port with a fresh data folder; stop it after."""
    python = ensure_venv()
    port = _free_port()
    token = secrets.token_hex(20)  # 40 characters, as Label Studio's legacy tokens
    env = {k: v for k, v in os.environ.items() if k not in _UNPREFIXED}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME="reviewer@example.com",
        LABEL_STUDIO_PASSWORD=secrets.token_hex(12),
        LABEL_STUDIO_USER_TOKEN=token,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
    )
    command = [
        str(python),
        "-c",
        "import sys; from label_studio.server import main; sys.exit(main())",
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    log = data_dir / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as fh:
        process = subprocess.Popen(command, env=env, stdout=fh, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", token)
    try:
        _wait(server, process, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(server: Server, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Label Studio exited: {log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{server.url}/health", timeout=5).ok:
                return
        time.sleep(2)
    raise RuntimeError(
        f"Label Studio did not answer in {START_TIMEOUT:.0f} s: {log.read_text()[-3000:]}"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
