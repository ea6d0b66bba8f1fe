"""Running the real CLI against an OpenAI-compatible server on 127.0.0.1, and checking that an
error is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any


def run_on_server(
    url: str, task: Path, *args: str | Path, model: str, timeout: float = 120, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``llmlabel run TASK ARGS`` through the openai_compat backend at ``url``."""
    command = [sys.executable, "-m", "llmlabel", "run", str(task), *map(str, args)]
    command += ["--backend", "openai_compat", "--base-url", url, "--model", model]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The run exited ``code`` with one ``error:`` line holding every needle."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
