"""A scripted backend for unit tests of the runner's orchestration (never proof a feature works
end to end: integration tests use the real model)."""

from __future__ import annotations

from collections.abc import Callable

from llmlabel.core.request import Completion, LabelRequest, Sample, Usage
from llmlabel.errors import BackendError

Script = Callable[[LabelRequest, int], str]


class FakeBackend:
    """Answers each sample with ``script(request, choice_index)``; counts calls. Like llama.cpp
    and vLLM, choice ``i`` of a request is seeded ``request.seed + i`` (``choice_seed``): a
    script that answers by seed replays across requests exactly as real servers do, and
    ``seeds`` lists every choice's seed."""

    name = "fake"

    def __init__(self, script: Script, max_n: int = 4, model_id: str = "fake-model"):
        self.script = script
        self.max_n = max_n
        self.model_id = model_id
        self.requests: list[LabelRequest] = []
        self.seeds: list[int | None] = []
        self.closed = False

    async def complete(self, request: LabelRequest) -> Completion:
        if request.n > self.max_n:
            raise BackendError(f"n={request.n} above max_n={self.max_n}")
        self.requests.append(request)
        self.seeds += [choice_seed(request, i) for i in range(request.n)]
        samples = tuple(Sample(text=self.script(request, i)) for i in range(request.n))
        return Completion(
            samples=samples, usage=Usage(prompt_tokens=10, completion_tokens=5 * request.n)
        )

    async def aclose(self) -> None:
        self.closed = True


def choice_seed(request: LabelRequest, i: int) -> int | None:
    """The seed a server gives choice ``i`` of ``request``."""
    return None if request.seed is None else request.seed + i


def is_reask(request: LabelRequest) -> bool:
    return request.messages[-1].content.startswith("That answer was invalid")


def record_text(request: LabelRequest) -> str:
    return request.messages[-3 if is_reask(request) else -1].content
