"""llama.cpp's server (xllamacpp), started for the embedded backend in process, or on an HTTP
port by ``serve_http`` for OpenAI-compatible clients; a helper of ``embedded.py``, not a
backend of its own.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from llmlabel import models
from llmlabel.core.settings import BackendSpec
from llmlabel.errors import LLMLabelError, ModelError

__all__ = ["HTTPModelServer", "serve_http"]

# llama.cpp keeps evicted slot prompts in RAM for reuse, 8 GiB by default: over a long run of
# distinct records that grows the process by gigabytes. A small budget keeps memory flat; the
# shared prompt prefix stays cached in the slots themselves.
_PROMPT_CACHE_MIB = 256


def _import_xllamacpp() -> ModuleType:
    try:
        return importlib.import_module("xllamacpp")
    except ImportError as exc:
        raise LLMLabelError(
            "the embedded backend needs xllamacpp, which is not installed",
            hint="pip install 'llmlabel[embedded]', or use backend.type: openai_compat",
        ) from exc


def _start_server(
    path: Path,
    spec: BackendSpec,
    *,
    alias: str,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None,
) -> Any:
    """A loaded ``xllamacpp.Server``.

    Each of ``spec.parallel`` slots may use ``spec.n_ctx`` tokens: the KV cache holds
    ``n_ctx * parallel`` cells, unified so that a slot can take more while others are idle and
    the ``n`` samples of one request share their prompt's cells.
    """
    xlc = _import_xllamacpp()
    params = xlc.CommonParams()
    params.model.path = str(path)
    params.model_alias = {alias}
    params.n_parallel = spec.parallel
    params.n_ctx = spec.n_ctx * spec.parallel
    params.kv_unified = True
    threads = spec.threads or os.cpu_count() or 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.cache_ram_mib = _PROMPT_CACHE_MIB
    params.endpoint_metrics = True  # counters only: read by EmbeddedBackend.metrics()
    params.verbosity = 0
    # The server always listens (an empty host list crashes it), so pin it to loopback.
    params.hostnames = [host]
    params.port = port
    if api_key is not None:
        params.api_keys = [api_key]
    try:
        return xlc.Server(params)
    except (RuntimeError, ValueError) as exc:
        raise ModelError(
            f"llama.cpp could not load {path}: {exc}",
            hint="check that the file is a GGUF model llama.cpp supports and that there is "
            "memory for it (lower backend.n_ctx or backend.parallel)",
        ) from exc


def _model_id(model: str, path: Path) -> str:
    info = models.MODELS.get(model)
    digest = info.sha256 if info is not None else models.file_sha256(path)
    return f"{info.name if info is not None else path.name}@{digest[:12]}"


@dataclass
class HTTPModelServer:
    """A llama.cpp server answering the OpenAI API on ``base_url`` (ending in ``/v1``)."""

    base_url: str
    model_id: str
    path: Path
    _server: Any = field(repr=False)

    def close(self) -> None:
        self._server = None

    def __enter__(self) -> HTTPModelServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def serve_http(
    model: BackendSpec | str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    progress: bool = True,
) -> HTTPModelServer:
    """Serve a registry model or ``.gguf`` file over HTTP (``port=0``: a free port).

    The model name clients send is ignored; ``/v1/models`` lists ``model_id``.
    """
    spec = model if isinstance(model, BackendSpec) else BackendSpec(model=str(model))
    path = models.resolve(spec.model, progress=progress)
    model_id = _model_id(spec.model, path)
    server = _start_server(path, spec, alias=model_id, host=host, port=port, api_key=api_key)
    address = str(server.listening_address).rstrip("/")
    return HTTPModelServer(base_url=f"{address}/v1", model_id=model_id, path=path, _server=server)
