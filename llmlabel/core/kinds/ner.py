"""NER: the entities of a record's ``text``, each a typed character span. Everything NER starts
here; the math it names lives beside the other kinds' in ``llmlabel.core``:

- answer model: ``llmlabel.core.spans.ner_model`` (the model writes ``{text, label}``; the
  offsets are recovered in the record's text by ``spans.answer_value``, never trusted)
- vote: ``spans.span_vote`` (a span is kept when more than half of the samples find it; each
  kept span has its own confidence); token logprobs weigh each span (``items``)
- committee: ``llmlabel.core.committee_sets.SPANS`` (span by span; regex rules find spans)
- scoring (``llmlabel eval``): ``spans.SCORING``: strict span P/R/F1 (seqeval-style), per type,
  counted by ``llmlabel.core.labelsets.SetCounts``
- review: ``SpanReview`` below: uncertainty per candidate span and span agreement
  (``llmlabel.core.review``), Label Studio regions and Argilla span questions
  (``llmlabel.io.labelstudio``, ``llmlabel.io.argilla``), corrected rows' BIO tags redone
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmlabel.core import committee_sets, spans
from llmlabel.core.kinds.base import Kind
from llmlabel.core.review import Correction, Label, SpanAgreement, entity_problem, span_agreement
from llmlabel.core.silverspans import Entities, entities_of
from llmlabel.core.spans import Span, bio_tags, token_offsets
from llmlabel.errors import InputError


def mentions(entities: Entities) -> list[dict[str, str]]:
    """Entities as the model is asked to write them (few-shot examples, SFT answers): text and
    type; the offsets are recovered from the text."""
    return [{"text": s.text, "label": s.label} for s in entities]


def _spans_of(label: Label) -> Entities:
    return tuple(x for x in label if isinstance(x, Span)) if isinstance(label, tuple) else ()


@dataclass(frozen=True)
class SpanReview:
    """Review of entities: a label is the record's entities in text order (see
    ``llmlabel.core.kinds.base.Review``)."""

    multi_label: bool = False
    spans: bool = True
    hint: str = (
        'NER corrections rows look like {"id": "n01", "text": ..., '
        '"entities": [{"start": 0, "end": 6, "label": "ORG", "text": "Toyota"}]}'
    )

    def label(self, value: Any, labels: Sequence[str], task: str, where: str) -> Label:
        entities = entities_of(value)
        problem = (
            "the row has no list of {start, end, label, text} entities"
            if entities is None
            else entity_problem(entities, labels, None)
        )
        if problem is not None or entities is None:
            raise InputError(
                f"{problem} (task '{task}')",
                where=where or None,
                hint="pass the task file the predictions were made with",
            )
        return entities

    def votes(self, votes: Mapping[str, int], labels: Sequence[str]) -> dict[str, int]:
        return dict(votes)  # valid samples per candidate span

    def correction(self, value: Any, labels: Sequence[str], where: str, text: Any) -> Label:
        entities = entities_of(value)
        if entities is None:
            raise InputError(
                "the correction has no list of {start, end, label, text} entities",
                where=where,
                hint=self.hint,
            )
        problem = entity_problem(entities, labels, text if isinstance(text, str) else None)
        if problem is not None:
            raise InputError(problem, where=where, hint=self.hint)
        return entities

    def human(
        self, row: Mapping[str, Any], correction: Correction, labels: Sequence[str]
    ) -> dict[str, Any]:
        """Every entity sure, BIO tags redone from the record's tokens (dropped where the
        correction does not carry them)."""
        entities = _spans_of(correction.label)
        fields: dict[str, Any] = {
            "label": [{**s._asdict(), "confidence": 1.0} for s in entities],
            "label_confidence": {s.key: 1.0 for s in entities},
        }
        tokens, text = correction.data.get("tokens"), correction.data.get("text")
        offsets = (
            token_offsets(tokens, text)
            if isinstance(tokens, list) and isinstance(text, str)
            else None
        )
        if offsets is not None:
            fields["tags"] = bio_tags([(s.start, s.end, s.label) for s in entities], offsets)
        elif "tags" in row:
            fields["tags"] = None
        return fields

    def agreement(
        self, pairs: Sequence[tuple[Label | None, Label]], labels: Sequence[str]
    ) -> SpanAgreement:
        return span_agreement(pairs, labels)

    def plain(self, label: Label | None) -> Any:
        return [s._asdict() for s in _spans_of(label)] if label is not None else None

    def key(self, label: Label | None) -> Hashable:
        """Entities are told apart by start, end and type."""
        if label is None:
            return None
        return frozenset((s.start, s.end, s.label) for s in _spans_of(label))

    def example(self, label: Label) -> Any:
        return mentions(_spans_of(label))

    def scores(self, label: Any) -> dict[Span, float]:
        """Each kept entity's confidence."""
        scores = {}
        for item in label or []:
            entity = entities_of([item])
            confidence = item.get("confidence") if isinstance(item, dict) else None
            if entity and isinstance(confidence, (int, float)):
                scores[entity[0]] = float(confidence)
        return scores


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
    review=SpanReview(),
)
