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
- export: ``NerExport`` below: ``entities`` as character spans, ``tokens`` and BIO ``ner_tags``
  (``llmlabel.core.silverspans``), the entity-type distribution on the card
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmlabel.core import committee_sets, spans
from llmlabel.core.kinds.base import Kind, Table
from llmlabel.core.kinds.classification import strata
from llmlabel.core.review import Correction, Label, SpanAgreement, entity_problem, span_agreement
from llmlabel.core.silver import Candidate, Selection, silver_row
from llmlabel.core.silverspans import (
    Entities,
    as_dicts,
    bio_names,
    entities_of,
    misplaced,
    overlapping,
    tag,
    type_counts,
)
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


@dataclass
class NerRows:
    """Exported NER rows: ``entities`` as char spans, ``tokens`` and BIO ``ner_tags``; counts
    what the tokens came from, for the card's notes."""

    id_field: str
    records: int = 0
    tokenized: int = 0
    entities: int = 0
    misaligned: int = 0

    def row(
        self, record_id: str, data: Mapping[str, Any], where: str, candidate: Candidate
    ) -> dict[str, Any]:
        text = data.get("text")
        if not isinstance(text, str):
            raise InputError(
                "the record has no string 'text' to locate its entities in",
                where=where,
                hint="pass the input file that was labeled with --input",
            )
        entities = _entities(candidate, text, where)
        tagged = tag(text, data.get("tokens"), entities or ())
        if tagged is None:
            raise InputError(
                "the record's 'tokens' are not found, in order, in its 'text'",
                where=where,
                hint="fix the tokens, or drop the field to have llmlabel tokenize the text",
            )
        answer: dict[str, Any] = {"entities": as_dicts(entities) if entities is not None else None}
        if tagged.tokenized:
            answer["tokens"] = tagged.tokens
        answer["ner_tags"] = tagged.tags if entities is not None else None
        self.records += 1
        self.tokenized += tagged.tokenized
        self.entities += len(entities or ())
        self.misaligned += tagged.misaligned
        return silver_row(record_id, data, self.id_field, answer, candidate.confidence)

    def notes(self) -> list[str]:
        notes = []
        if self.tokenized:
            notes.append(
                f"{self.tokenized} of {self.records} record(s) had no `tokens`: their tokens are "
                "runs of word characters and single other non-space characters"
            )
        if self.misaligned:
            notes.append(
                f"{self.misaligned} of {self.entities} entities start or end inside a token; "
                "their `ner_tags` cover the whole tokens, `entities` keep the exact spans"
            )
        return notes


def _entities(candidate: Candidate, text: str, where: str) -> Entities | None:
    """The candidate's entities, checked against the record's text (``None``: unlabeled)."""
    if not candidate.labeled or isinstance(candidate.label, str) or candidate.label is None:
        return None
    entities = candidate.label
    wrong = misplaced(entities, text)
    if wrong is not None:
        raise InputError(
            f"prediction '{candidate.id}': entity {wrong.text!r} is not at "
            f"{wrong.start}:{wrong.end} in the record's text",
            where=where,
            hint="pass the input file that was labeled with --input",
        )
    pair = overlapping(entities)
    if pair is not None:
        raise InputError(
            f"prediction '{candidate.id}': entities {pair[0].text!r} and {pair[1].text!r} "
            "overlap; BIO tags cannot hold both",
            where=where,
            hint="keep one of them (llmlabel run never keeps overlapping spans)",
        )
    return entities


@dataclass(frozen=True)
class NerExport:
    """Entities per record, no class (see ``llmlabel.core.kinds.base.Export``)."""

    classes: bool = False
    category: str = "token-classification"
    what: str = "entity type"

    def label(self, value: Any) -> Entities:
        entities = entities_of(value)
        if entities is None:
            raise ValueError("a labeled NER row has no list of {start, end, label, text} entities")
        return entities

    def names(self, label: str | Entities) -> list[str]:
        return [] if isinstance(label, str) else [s.label for s in label]

    def columns(self, names: Sequence[str]) -> dict[str, list[str]]:
        return {"ner_tags": bio_names(names)}

    def answer(self, label: str | Entities | None) -> Any:
        return label if isinstance(label, str) or label is None else mentions(label)

    def rows(self, id_field: str) -> NerRows:
        return NerRows(id_field)

    def table(self, selection: Selection) -> Table:
        """Entities per type (per split), the records mentioning each type, and the records
        without any entity."""
        names = list(selection.splits) if len(selection.splits) > 1 else []
        per_split = {n: type_counts(_answers(p))[0] for n, p in selection.splits.items()}
        entities, records = type_counts(_answers(selection.kept))
        total = max(1, sum(entities.values()))
        rows = []
        for name in sorted(entities, key=lambda k: (-entities[k], k)):
            cells = [str(per_split[n][name]) for n in names]
            share = f"{entities[name] / total:.1%}"
            rows.append([name, *cells, str(entities[name]), share, str(records[name])])
        counts = strata(selection.kept)
        footer = [
            f"Records with no entity: {counts['no entities']}.",
            f"Records without an answer (abstained or failed): {counts[None]}."
            if counts[None]
            else "",
        ]
        head = ["entity type", *names, "entities", "share", "records"]
        return Table("Entity-type distribution", head, rows, " ".join(f for f in footer if f))


def _answers(part: Iterable[Candidate]) -> list[Any]:
    return [c.label for c in part if c.labeled and not isinstance(c.label, str)]


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
    export=NerExport(),
)
