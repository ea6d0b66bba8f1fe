"""Task kinds: what an answer looks like and how samples are voted, one table entry per kind.

The runner and task preparation look the kind up once (``KINDS[spec.kind]``) and call it; no
kind checks are threaded through the rest of the code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from llmlabel.core.schema import (
    MULTI_FIELD,
    VOTE_FIELD,
    classification_model,
    label_set,
    multilabel_model,
    vote_value,
)
from llmlabel.core.vote import Vote, per_label_majority, plurality

Voter = Callable[[Sequence[Any], Sequence[str], Sequence[str]], Vote]
Valuer = Callable[[BaseModel, Mapping[str, Any]], Hashable]
"""(validated answer, the record's fields) -> the sample's hashable vote value. The record is
there for kinds whose value depends on it (NER recovers span offsets in the record's text)."""


@dataclass(frozen=True)
class Kind:
    """``field``: the answer field that votes; ``template``: the default prompt template;
    ``model``: the answer model generated from the labels; ``value``: an answer's normalised,
    hashable vote (see ``Valuer``); ``vote``: votes over the samples' values (``None`` =
    invalid sample)."""

    name: str
    field: str
    template: str
    model: Callable[[list[str]], type[BaseModel]]
    value: Valuer
    vote: Voter
    answer_example: Callable[[list[str]], Any]

    def answer_format(self, labels: list[str]) -> str:
        """The answer's shape as shown to the model in the prompt and in re-asks."""
        return json.dumps({self.field: self.answer_example(labels)}, ensure_ascii=False)


CLASSIFICATION = Kind(
    name="classification",
    field=VOTE_FIELD,
    template="classify.v1",
    model=classification_model,
    value=lambda answer, record: vote_value(answer),
    vote=plurality,
    answer_example=lambda labels: " | ".join(labels),
)

MULTI_LABEL = Kind(
    name="multi_label",
    field=MULTI_FIELD,
    template="multilabel.v1",
    model=multilabel_model,
    value=lambda answer, record: label_set(answer),
    vote=per_label_majority,
    answer_example=lambda labels: ["<label>", "..."],
)

KINDS: dict[str, Kind] = {kind.name: kind for kind in (CLASSIFICATION, MULTI_LABEL)}
