"""Prompts and answers as token ids for the batch engines: the chat template rendered to ids (a
prefill counted), ids decoded to text, and each generated token's text and logprobs; a helper
of ``batch.py`` and its engines, not a backend of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from llmlabel.core.request import Message, TokenLogprob


class Prompted(Protocol):
    """What ``token_logprobs`` reads of a request (``batch.EngineRequest`` is one)."""

    @property
    def prompt_ids(self) -> tuple[int, ...]: ...

    @property
    def prefill_tokens(self) -> int: ...


__all__ = ["chat_token_ids", "decode", "prompt_token_ids", "token_logprobs"]

# Tokens of context decoded before a token to find its text: enough for a multi-byte character
# split over byte tokens, and for tokenizers that drop a leading space at the start of a text.
_TEXT_CONTEXT = 8
_REPLACEMENT = "\ufffd"


def chat_token_ids(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """The prompt's token ids: the chat template with the assistant turn opened.

    Rendered to text first, then tokenized without extra special tokens (the template writes
    its own), which behaves the same across tokenizer versions.
    """
    return _tokenize(tokenizer, _chat_text(tokenizer, messages))


def prompt_token_ids(
    tokenizer: Any, messages: Sequence[Message], prefill: str = ""
) -> tuple[list[int], int]:
    """The prompt's token ids and how many of the last ones are the ``prefill``.

    The chat prompt and the prefill are tokenized as one text, as a server renders a final
    assistant message it continues; the prefill's ids are those after the chat prompt's own
    (after their common start, should a token straddle the two).
    """
    text = _chat_text(tokenizer, messages)
    chat = _tokenize(tokenizer, text)
    if not prefill:
        return chat, 0
    ids = _tokenize(tokenizer, text + prefill)
    same = 0
    while same < min(len(chat), len(ids)) and chat[same] == ids[same]:
        same += 1
    return ids, len(ids) - same


def _chat_text(tokenizer: Any, messages: Sequence[Message]) -> str:
    text = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in messages],
        tokenize=False,
        add_generation_prompt=True,
    )
    return str(text)


def _tokenize(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def decode(tokenizer: Any, ids: Sequence[int]) -> str:
    """Token ids as text, special tokens left out. No clean-up of spaces: the answer is JSON,
    and a `` ,`` or `` .`` inside one of its strings is the model's."""
    text = tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return str(text)


def token_logprobs(
    tokenizer: Any,
    request: Prompted,
    generated: Sequence[int],
    logprobs: Sequence[float],
    top: Sequence[Sequence[tuple[int, float]]],
) -> tuple[TokenLogprob, ...]:
    """A sample's tokens (ids, their logprobs, the top ``(id, logprob)`` alternatives at each
    position) as ``TokenLogprob``s with texts.

    A token's text is what it adds to the text decoded from the few tokens before it (the
    prefill's, then the answer's), so the texts of a sample's tokens spell its text, and an
    alternative's text is what it would have added there; bytes of a character still
    incomplete go to the token that completes it. Decoding ids one by one would not do: some
    tokenizers drop a leading space at the start of a text, and a byte token alone is no text.
    """
    context = list(request.prompt_ids[len(request.prompt_ids) - request.prefill_tokens :])
    tokens = []
    for step, token in enumerate(generated):
        before = (context + list(generated[:step]))[-_TEXT_CONTEXT:]
        known = decode(tokenizer, before).rstrip(_REPLACEMENT)
        tokens.append(
            TokenLogprob(
                text=_added(known, decode(tokenizer, [*before, token])),
                logprob=logprobs[step],
                top=tuple(
                    (_added(known, decode(tokenizer, [*before, i])), logprob)
                    for i, logprob in top[step]
                ),
            )
        )
    return tuple(tokens)


def _added(known: str, extended: str) -> str:
    """What ``extended`` adds to ``known`` (an incomplete character at its end, decoded as
    U+FFFD, left out)."""
    extended = extended.rstrip(_REPLACEMENT)
    if extended.startswith(known):
        return extended[len(known) :]
    same = 0  # a decoder that rewrites earlier text: the best that can be done
    while same < min(len(known), len(extended)) and known[same] == extended[same]:
        same += 1
    return extended[same:]
