"""What a task kind is: the ``Kind`` every module of ``llmlabel.core.kinds`` fills in, and what
the commands after labeling ask of the kinds they handle (``Review``, ``Export``).

Its own module (not the package's ``__init__``) so the kind modules can import it while the
package imports them to build the registry. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from llmlabel.core.committee import CommitteeRules
from llmlabel.core.review import Agreement, Correction, Label, SpanAgreement
from llmlabel.core.scoring import Scoring
from llmlabel.core.silver import Candidate, Selection
from llmlabel.core.silverspans import Entities
from llmlabel.core.spans import Span
from llmlabel.core.vote import Vote

Voter = Callable[..., Vote]
"""(sample values, label order, invalid samples' reasons[, soft=item probabilities]) -> Vote;
``soft`` is passed only to kinds with ``items``."""
Settler = Callable[[Sequence[Any], int, float | None], bool]
"""(sample values so far, samples still allowed, posterior level) -> stop sampling?"""
Valuer = Callable[[BaseModel, Mapping[str, Any]], Hashable]
"""(validated answer, the record's fields) -> the sample's hashable vote value. The record is
there for kinds whose value depends on it (NER recovers span offsets in the record's text)."""


class Review(Protocol):
    """What ``llmlabel review`` and ``merge`` ask a kind that people can review. Labels are in
    the task's terms (``llmlabel.core.review.Label``); a row or a correction that is not one of
    the kind's answers raises ``InputError`` naming ``where``."""

    @property
    def multi_label(self) -> bool:
        """Reviewers pick any number of the labels."""

    @property
    def spans(self) -> bool:
        """Reviewers mark entities (the labels are their types) in the record's ``text``."""

    @property
    def hint(self) -> str:
        """What a JSONL corrections row looks like."""

    def label(self, value: Any, labels: Sequence[str], task: str, where: str) -> Label:
        """A labeled prediction row's ``label`` of task ``task``, in the task's terms."""

    def votes(self, votes: Mapping[str, int], labels: Sequence[str]) -> dict[str, int] | None:
        """A row's votes item by item (per label, per candidate span), which review scores
        decision by decision; ``None``: one label per record, votes per label as they are."""

    def correction(self, value: Any, labels: Sequence[str], where: str, text: Any) -> Label:
        """A JSONL correction's answer, checked against the labels (and the record's
        ``text``, where the kind locates its answer in it)."""

    def human(
        self, row: Mapping[str, Any], correction: Correction, labels: Sequence[str]
    ) -> dict[str, Any]:
        """The fields of a corrected row that depend on the kind: the reviewer's answer and
        its per-item confidences (all sure), redone where the row had them."""

    def agreement(
        self, pairs: Sequence[tuple[Label | None, Label]], labels: Sequence[str]
    ) -> Agreement | SpanAgreement:
        """Model–reviewer agreement over (model label or ``None``, reviewer label) pairs."""

    def plain(self, label: Label | None) -> Any:
        """A label as JSON."""

    def key(self, label: Label | None) -> Hashable:
        """What tells two labels apart."""

    def example(self, label: Label) -> Any:
        """A reviewer's label as a few-shot example's answer (what the model is asked for)."""

    def scores(self, label: Any) -> dict[Span, float] | None:
        """The confidence of each item of a row's ``label``, shown to reviewers beside the
        model's answer; ``None``: the kind has no items."""


@dataclass(frozen=True)
class Table:
    """A section of an exported set's dataset card: a Markdown table under ``title``, then
    ``footer``."""

    title: str
    head: list[str]
    rows: list[list[str]]
    footer: str = ""


class SilverRows(Protocol):
    """Writes one exported row per kept prediction, and what the card should say about them."""

    def row(
        self, record_id: str, data: Mapping[str, Any], where: str, candidate: Candidate
    ) -> dict[str, Any]:
        """The exported row of a record (its fields, as read from the input) and its
        prediction; ``InputError`` naming ``where`` if the record cannot carry it."""

    def notes(self) -> list[str]:
        """Notes for the card about the rows written so far."""


class Export(Protocol):
    """What ``llmlabel export`` and the dataset card (``llmlabel.core.card``) ask a kind whose
    predictions make a silver set."""

    @property
    def classes(self) -> bool:
        """A class per record: ``--per-class-max`` and ``--balance`` apply, and ``distill``
        trains on it."""

    @property
    def category(self) -> str:
        """The card's Hugging Face Hub task category."""

    @property
    def what(self) -> str:
        """What a label's names are, in messages (``label``, ``entity type``)."""

    def label(self, value: Any) -> str | Entities:
        """A labeled row's ``label`` as a silver ``Candidate``'s; ``ValueError`` saying what is
        wrong if it is none."""

    def names(self, label: str | Entities) -> list[str]:
        """The label names a candidate's label uses."""

    def columns(self, names: Sequence[str]) -> dict[str, list[str]]:
        """The class columns (``ClassLabel`` features) over the task's label ``names``."""

    def answer(self, label: str | Entities | None) -> Any:
        """The label as the model is asked to write it (the answer of an SFT row)."""

    def rows(self, id_field: str) -> SilverRows:
        """A fresh writer of exported rows (records keep their id under ``id_field``)."""

    def table(self, selection: Selection) -> Table:
        """The card's distribution of the selected labels, per split."""


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
    walks_labels: bool = False
    """Its items are labels from the task's list, so ``label_lists: walk`` can choose them
    one by one (``llmlabel.runs.distribution.label_list``)."""
    review: Review | None = None
    """How ``llmlabel review`` and ``merge`` handle its rows; ``None``: they cannot."""
    export: Export | None = None
    """How ``llmlabel export`` writes its silver rows; ``None``: it cannot."""
    example: Callable[[Any], Any] | None = None
    """A gold value (``scoring.gold``'s) as a few-shot example's answer in ``field``, which
    ``llmlabel tune`` writes for its examples step; ``None``: tune cannot tune the kind."""
    audit: bool = False
    """``llmlabel audit`` checks gold of this kind (confident learning on the votes of one
    label per record)."""

    def answer_format(self, labels: list[str], model: type[BaseModel] | None = None) -> str:
        """The answer's shape as shown to the model in the prompt and in re-asks."""
        if self.shape is not None and model is not None:
            return json.dumps(self.shape(model), ensure_ascii=False)
        return json.dumps({self.field: self.answer_example(labels)}, ensure_ascii=False)
