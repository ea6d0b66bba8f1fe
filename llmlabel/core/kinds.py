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

from llmlabel.core import committee_sets, fields, relations, scoring, spans, textsim, triples
from llmlabel.core.adaptive import per_label_settled, plurality_settled
from llmlabel.core.committee import SINGLE, CommitteeRules
from llmlabel.core.schema import (
    MULTI_FIELD,
    TEXT_FIELD,
    VOTE_FIELD,
    classification_model,
    free_text_model,
    label_set,
    multilabel_model,
    vote_value,
)
from llmlabel.core.scoring import Scoring
from llmlabel.core.vote import Vote, per_label_majority, plurality

Voter = Callable[..., Vote]
"""(sample values, label order, invalid samples' reasons[, soft=item probabilities]) -> Vote;
``soft`` is passed only to kinds with ``items``."""
Settler = Callable[[Sequence[Any], int, float | None], bool]
"""(sample values so far, samples still allowed, posterior level) -> stop sampling?"""
Valuer = Callable[[BaseModel, Mapping[str, Any]], Hashable]
"""(validated answer, the record's fields) -> the sample's hashable vote value. The record is
there for kinds whose value depends on it (NER recovers span offsets in the record's text)."""


@dataclass(frozen=True)
class Kind:
    """``field``: the answer field that votes; ``template``: the default prompt template;
    ``model``: the answer model generated from the labels; ``value``: an answer's normalised,
    hashable vote (see ``Valuer``); ``vote``: votes over the samples' values (``None`` =
    invalid sample); ``settled``: whether sampling can stop early (adaptive self-consistency;
    ``None``: the kind always takes all its samples); ``scoring``: how ``llmlabel eval``
    scores the kind against gold (see ``llmlabel.core.scoring``; ``None``: eval cannot score it
    yet); ``reads``: record fields ``value`` reads, which the task's ``fields`` must list (NER
    locates its spans in ``text``).

    Kinds without a label list (``needs_labels=False``: extraction, free text) take no
    ``labels:``; ``model=None`` means the answer model is the task's ``schema:`` (required), and
    ``field=""`` that the whole answer votes. ``shape``, where set, builds the answer format from
    the answer model instead of ``{field: answer_example}``."""

    name: str
    field: str
    template: str
    model: Callable[[list[str]], type[BaseModel]] | None
    value: Valuer
    vote: Voter
    answer_example: Callable[[list[str]], Any]
    scoring: Scoring | None = None
    settled: Settler | None = None
    reads: tuple[str, ...] = ()
    needs_labels: bool = True
    shape: Callable[[type[BaseModel]], Any] | None = None
    committee: CommitteeRules | None = None
    """How a committee (``llmlabel.core.committee``) votes on it; ``None``: it cannot."""
    scores_labels: bool = False
    """One label per answer, in ``field``: token logprobs give each label a probability
    (``llmlabel.core.labelprobs``)."""
    items: Callable[[Any], list[tuple[Any, tuple[str, ...]]]] | None = None
    """A list of items per answer, in ``field``: (item, its string values as written in the
    answer), in answer order, for a sample's value; their tokens give each item a probability
    (``llmlabel.core.labelprobs.item_probs``), which ``vote(..., soft=...)`` weighs."""

    def answer_format(self, labels: list[str], model: type[BaseModel] | None = None) -> str:
        """The answer's shape as shown to the model in the prompt and in re-asks."""
        if self.shape is not None and model is not None:
            return json.dumps(self.shape(model), ensure_ascii=False)
        return json.dumps({self.field: self.answer_example(labels)}, ensure_ascii=False)


CLASSIFICATION = Kind(
    name="classification",
    field=VOTE_FIELD,
    template="classify.v1",
    model=classification_model,
    value=lambda answer, record: vote_value(answer),
    vote=plurality,
    answer_example=lambda labels: " | ".join(labels),
    settled=plurality_settled,
    committee=SINGLE,
    scoring=scoring.CLASSIFICATION,
    scores_labels=True,
)

MULTI_LABEL = Kind(
    name="multi_label",
    field=MULTI_FIELD,
    template="multilabel.v1",
    model=multilabel_model,
    value=lambda answer, record: label_set(answer),
    vote=per_label_majority,
    answer_example=lambda labels: ["<label>", "..."],
    settled=per_label_settled,
    committee=committee_sets.MULTI_LABEL,
    scoring=scoring.MULTI_LABEL,
    items=lambda value: [(label, (label,)) for label in sorted(value)],
)

NER = Kind(
    name="ner",
    field=spans.ENTITIES_FIELD,
    template="ner.v1",
    model=spans.ner_model,
    value=spans.answer_value,
    vote=spans.span_vote,
    answer_example=lambda labels: [{"text": "<entity as written>", "label": labels[0]}],
    committee=committee_sets.SPANS,
    scoring=spans.SCORING,
    reads=("text",),
    items=lambda value: [(s, (s.text, s.label)) for s in sorted(value.spans)],
)

EXTRACTION = Kind(
    name="extraction",
    field="",
    template="extract.v1",
    model=None,
    value=lambda answer, record: fields.extracted(answer),
    vote=fields.vote,
    answer_example=lambda labels: {},  # unused: ``shape`` builds the format from the schema
    scoring=fields.SCORING,
    needs_labels=False,
    shape=fields.skeleton,
)

FREE_TEXT = Kind(
    name="free_text",
    field=TEXT_FIELD,
    template="freetext.v1",
    model=free_text_model,
    value=lambda answer, record: getattr(answer, TEXT_FIELD),
    vote=textsim.medoid,
    answer_example=lambda labels: "<the text>",
    scoring=textsim.SCORING,
    needs_labels=False,
)

RELATION = Kind(
    name="relation",
    field=VOTE_FIELD,
    template="relation.v1",
    model=classification_model,
    value=lambda answer, record: vote_value(answer),
    vote=plurality,
    answer_example=lambda labels: " | ".join(labels),
    settled=plurality_settled,
    committee=SINGLE,
    scoring=relations.SCORING,
    reads=("text", "head", "tail"),
    scores_labels=True,
)

RELATION_TRIPLES = Kind(
    name="relation_triples",
    field=triples.TRIPLES_FIELD,
    template="triples.v1",
    model=triples.triples_model,
    value=triples.answer_value,
    vote=triples.triple_vote,
    answer_example=lambda labels: [
        {"head": "<entity as written>", "relation": labels[0], "tail": "<entity as written>"}
    ],
    scoring=triples.SCORING,
    reads=("text",),
    items=lambda value: [(t, (t.head, t.relation, t.tail)) for t in sorted(value.triples)],
)

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        CLASSIFICATION,
        MULTI_LABEL,
        NER,
        RELATION,
        RELATION_TRIPLES,
        EXTRACTION,
        FREE_TEXT,
    )
}
