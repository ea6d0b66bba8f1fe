"""NER silver rows: entities as character spans, and tokens with BIO tags. Pure: no I/O.

An exported NER record carries ``entities`` (``[{start, end, label, text}]``, end exclusive),
and ``tokens`` with ``ner_tags`` (BIO, IOB2). The tokens are the record's own ``tokens`` field
when it has one (each located in ``text``, left to right, as ``llmlabel run`` does), otherwise
``tokenize(text)``: runs of word characters and single other non-space characters
(``\\w+|[^\\w\\s]``, Unicode), so ``"Canada's"`` is ``Canada ' s``. A token that an entity covers
only in part is tagged as inside it; ``misaligned`` counts such entities, so the card can say
how often a token-level set differs from the spans.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from llmlabel.core.spans import Span, bio_tags, token_offsets

TOKEN = re.compile(r"\w+|[^\w\s]")
ENTITY_COLUMNS = ("start", "end", "label", "text")

Entities = tuple[Span, ...]


def tokenize(text: str) -> tuple[list[str], tuple[tuple[int, int], ...]]:
    """Tokens of ``text`` and their (start, end) offsets (see the module docstring)."""
    found = list(TOKEN.finditer(text))
    return [m.group() for m in found], tuple((m.start(), m.end()) for m in found)


def entities_of(value: Any) -> Entities | None:
    """A prediction row's ``label`` as spans in text order; ``None`` if it is not a list of
    ``{start, end, label, text}`` objects with ``0 <= start < end``."""
    if not isinstance(value, list):
        return None
    spans = []
    for item in value:
        if not isinstance(item, Mapping):
            return None
        start, end, label, text = (item.get(k) for k in ENTITY_COLUMNS)
        if not (isinstance(label, str) and isinstance(text, str)):
            return None
        if not (_int(start) and _int(end) and 0 <= start < end):
            return None
        spans.append(Span(start, end, label, text))
    return tuple(sorted(spans))


def _int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def misplaced(entities: Entities, text: str) -> Span | None:
    """The first entity whose offsets do not select its own text in ``text``, if any."""
    return next((s for s in entities if text[s.start : s.end] != s.text), None)


def overlapping(entities: Entities) -> tuple[Span, Span] | None:
    """The first two entities (in text order) that overlap, if any: BIO cannot hold them."""
    for a, b in itertools.pairwise(entities):
        if b.start < a.end:
            return a, b
    return None


@dataclass(frozen=True)
class Tagged:
    """A record's tokens and BIO tags; ``tokenized``: the tokens came from ``tokenize``."""

    tokens: list[str]
    tags: list[str]
    tokenized: bool
    misaligned: int


def tag(text: str, tokens: Any, entities: Entities) -> Tagged | None:
    """Tokens (the record's ``tokens`` if it is a list, else ``tokenize(text)``) and their BIO
    tags; ``None`` when the record's tokens cannot be found in order in ``text``."""
    if isinstance(tokens, list):
        offsets = token_offsets(tokens, text)
        if offsets is None:
            return None
        words, tokenized = [str(t) for t in tokens], False
    else:
        words, offsets = tokenize(text)
        tokenized = True
    starts = {s for s, _ in offsets}
    ends = {e for _, e in offsets}
    misaligned = sum(s.start not in starts or s.end not in ends for s in entities)
    tags = bio_tags([(s.start, s.end, s.label) for s in entities], offsets)
    return Tagged(words, tags, tokenized, misaligned)


def bio_names(types: Sequence[str]) -> list[str]:
    """The tag set of ``types`` in CoNLL order: ``O``, then ``B-t``, ``I-t`` per type."""
    return ["O", *(f"{p}-{t}" for t in types for p in ("B", "I"))]


def as_dicts(entities: Entities) -> list[dict[str, Any]]:
    return [s._asdict() for s in entities]


def type_counts(answers: Iterable[Entities | None]) -> tuple[Counter[str], Counter[str]]:
    """(entities per type, records mentioning each type) over ``answers``."""
    entities: Counter[str] = Counter()
    records: Counter[str] = Counter()
    for answer in answers:
        if answer:
            entities.update(s.label for s in answer)
            records.update({s.label for s in answer})
    return entities, records
