"""Several replicas of one model behind one ``Backend``: requests go round-robin.

For a fleet of OpenAI-compatible servers that serve the same model (``vllm serve`` replicas,
llama.cpp servers): each ``complete()`` goes to the next replica, so a runner with
``concurrency`` records in flight keeps every replica busy. The replicas must serve the same
model: the pool's ``model_id`` (provenance) is the first one's, its cache ``identity`` names
every replica, and its ``max_n`` is the smallest. A replica that fails is not skipped: its error
is the request's error, as with one server; the runner's retry of a retryable error
(``llmlabel.runs.retrying``) goes to the next replica, and replicas never retry themselves.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from llmlabel.backends.base import Backend, cache_identity
from llmlabel.core.request import Completion, LabelRequest
from llmlabel.core.settings import BackendSpec
from llmlabel.errors import ConfigError


class EndpointPool:
    """Round-robin over ``backends``, starting at ``start`` (so that several pools, one per
    worker, do not all begin on the same replica)."""

    name = "pool"

    def __init__(self, backends: Sequence[Backend], *, start: int = 0) -> None:
        if not backends:
            raise ConfigError("an endpoint pool needs at least one endpoint")
        self.backends = list(backends)
        self.model_id = self.backends[0].model_id
        self.identity = "pool:" + ",".join(sorted(cache_identity(b) for b in self.backends))
        first = start % len(self.backends)
        self._order = itertools.cycle(self.backends[first:] + self.backends[:first])

    @property
    def max_n(self) -> int:
        # Read at every use: a replica lowers its own max_n when its server caps n.
        return min(b.max_n for b in self.backends)

    @max_n.setter
    def max_n(self, value: int) -> None:
        for backend in self.backends:
            backend.max_n = value

    async def complete(self, request: LabelRequest) -> Completion:
        return await next(self._order).complete(request)

    async def aclose(self) -> None:
        for backend in self.backends:
            await backend.aclose()


def openai_pool(spec: BackendSpec, endpoints: Sequence[str], *, start: int = 0) -> EndpointPool:
    """An ``openai_compat`` backend per ``/v1`` URL in ``endpoints``, with ``spec``'s model,
    key and structured-output dialect."""
    from llmlabel.backends.openai_compat import OpenAICompatBackend

    replicas = [
        OpenAICompatBackend(spec.model_copy(update={"type": "openai_compat", "base_url": url}))
        for url in endpoints
    ]
    return EndpointPool(replicas, start=start)
