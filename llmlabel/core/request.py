"""What goes to a backend and what comes back: plain values, no I/O."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """A chat message; ``images`` (http(s) or ``data:`` URLs) follow the text as image
    content parts, for vision models."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str
    images: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """OpenAI chat format: plain text, or text and ``image_url`` parts."""
        if not self.images:
            return {"role": self.role, "content": self.content}
        text = [{"type": "text", "text": self.content}] if self.content else []
        images = [{"type": "image_url", "image_url": {"url": url}} for url in self.images]
        return {"role": self.role, "content": [*text, *images]}


class LabelRequest(BaseModel):
    """One chat request for ``n`` samples, constrained to ``json_schema``.

    ``round`` numbers the sampling rounds of one record so that repeated sampling is never
    collapsed into one cached answer; it is part of the cache key and offsets the seed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: tuple[Message, ...]
    json_schema: dict[str, Any]
    schema_name: str = "label"
    n: int = Field(1, ge=1)
    temperature: float = Field(0.0, ge=0.0)
    seed: int | None = None
    max_tokens: int = Field(256, ge=1)
    logprobs: bool = False
    top_logprobs: int = Field(0, ge=0, le=20)
    """Alternatives per token to report with ``logprobs`` (0: the backend's least)."""
    round: int = Field(0, ge=0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    """The sampler's truncation (``None``: the server's default; 0 / 1.0: none)."""
    prefill: str = ""
    """Text the answer must start with: the backend continues it (a probe of the label
    distribution at that point; sent without the schema, whose grammar starts at ``{``)."""

    def cache_key(self, model: str) -> str:
        """Stable hash of everything that can change the answer, plus the model identity.
        Fields added later leave the key of a request that does not use them unchanged, so
        existing caches stay valid."""
        payload = self.model_dump(mode="json")
        for name in _LATER_FIELDS:
            if payload[name] == LabelRequest.model_fields[name].default:
                del payload[name]
        payload["model"] = model
        for message in payload["messages"]:  # text-only keys stay what they were before images
            if not message["images"]:
                del message["images"]
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def messages_as_dicts(self) -> list[dict[str, Any]]:
        """The chat messages, then the ``prefill`` as an unfinished assistant turn."""
        messages = [m.as_dict() for m in self.messages]
        if self.prefill:
            messages.append({"role": "assistant", "content": self.prefill})
        return messages

    def sampler(self) -> dict[str, float | int]:
        """The sampler settings that are set, as request body fields."""
        chosen = {"top_p": self.top_p, "top_k": self.top_k, "min_p": self.min_p}
        return {k: v for k, v in chosen.items() if v is not None}


_LATER_FIELDS = ("top_logprobs", "top_p", "top_k", "min_p", "prefill")


class TokenLogprob(BaseModel):
    """One generated token: its text, logprob and the top alternatives at its position
    (``(text, logprob)`` pairs, as the backend reports them: before any grammar)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


class Sample(BaseModel):
    """One generated answer. ``logprob`` is the sum of its token log-probabilities, if known."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    finish_reason: str | None = None
    logprob: float | None = None
    tokens: tuple[TokenLogprob, ...] | None = None
    """Per-token logprobs and alternatives, when asked for with ``top_logprobs``."""


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class Completion(BaseModel):
    """A backend's answer to one ``LabelRequest``: exactly ``request.n`` samples."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: tuple[Sample, ...]
    usage: Usage = Usage()
    model: str = ""
    cached: bool = False
