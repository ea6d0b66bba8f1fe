"""The one port every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from llmlabel.core.request import Completion, LabelRequest, Message


@runtime_checkable
class Backend(Protocol):
    """An async source of completions.

    ``model_id`` names the model for provenance and cache keys (a backend that talks to a server
    also has an ``identity``, see ``cache_identity``). ``max_n`` is the most samples
    one request may ask for (the runner splits larger counts into rounds). ``complete`` returns
    exactly ``request.n`` samples or raises ``BackendError``.
    """

    name: str
    model_id: str
    max_n: int

    async def complete(self, request: LabelRequest) -> Completion: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Tokenizing(Protocol):
    """A backend that can say how many tokens a prompt is, as it will count them: the chat
    template applied, then the model's tokenizer (``--dry-run`` and ``preview``)."""

    async def prompt_token_ids(self, messages: Sequence[Message]) -> list[int] | None:
        """The prompt's token ids with the assistant turn opened; None when this backend
        (or the server behind it) cannot tell."""
        ...


def cache_identity(backend: Backend) -> str:
    """What cached answers are keyed under: the backend's ``identity`` where it has one (a
    server: its URL and model, so that two servers never share answers), else ``model_id``
    (in-process models, whose keys stay what they were)."""
    return getattr(backend, "identity", None) or backend.model_id
