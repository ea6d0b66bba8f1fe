"""Backends: one file each behind the ``Backend`` protocol in ``base.py``.

Adapters are imported only when chosen, so heavy optional dependencies stay optional.
"""

from __future__ import annotations

from llmlabel.backends.base import Backend
from llmlabel.core.spec import TaskSpec

__all__ = ["Backend", "make_backend"]


def make_backend(spec: TaskSpec) -> Backend:
    """The backend a task asks for, ready to ``complete()``."""
    backend = spec.backend
    if backend.type == "openai_compat":
        from llmlabel.backends.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(backend)
    if backend.type == "transformers":
        from llmlabel.backends.transformers_hf import transformers_backend

        return transformers_backend(backend)
    if backend.type == "vllm_offline":
        from llmlabel.backends.vllm_offline import vllm_backend

        return vllm_backend(backend)
    from llmlabel.backends.embedded import EmbeddedBackend

    return EmbeddedBackend(backend)
