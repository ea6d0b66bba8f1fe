"""A scripted backend for unit tests of the runner's orchestration (never proof a feature works
end to end: integration tests use the real model)."""

from __future__ import annotations

from collections.abc import Callable

from llmlabel.core.request import Completion, LabelRequest, Sample, Usage
from llmlabel.errors import BackendError

Script = Callable[[LabelRequest, int], str]


class FakeBackend:
    """Answers each sample with ``script(request, sample_index)``; counts calls."""

    name = "fake"

    def __init__(self, script: Script, max_n: int = 4, model_id: str = "fake-model"):
        self.script = script
        self.max_n = max_n
        self.model_id = model_id
        self.requests: list[LabelRequest] = []
        self.closed = False

    async def complete(self, request: LabelRequest) -> Completion:
        if request.n > self.max_n:
            raise BackendError(f"n={request.n} above max_n={self.max_n}")
        self.requests.append(request)
        samples = tuple(Sample(text=self.script(request, i)) for i in range(request.n))
        return Completion(
            samples=samples, usage=Usage(prompt_tokens=10, completion_tokens=5 * request.n)
        )

    async def aclose(self) -> None:
        self.closed = True


def record_text(request: LabelRequest) -> str:
    return request.messages[-1].content if request.round < 1000 else request.messages[-3].content
