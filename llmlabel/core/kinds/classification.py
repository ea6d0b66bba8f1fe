"""Classification: one label per record, from the task's label list.

- answer model: ``llmlabel.core.schema.classification_model`` (``{"label": one of labels}``)
- vote: ``llmlabel.core.vote.plurality`` (confidence = vote share; ties explicit), adaptive
  stop: ``llmlabel.core.adaptive.plurality_settled``
- committee: ``llmlabel.core.committee.SINGLE``; token logprobs give each label a probability
- scoring (``llmlabel eval``): ``llmlabel.core.scoring.CLASSIFICATION`` (accuracy, per-class
  and macro/micro F1)
- review: ``LabelReview`` below (multi-label reviews the same way, with a label set); the
  uncertainty and agreement math is ``llmlabel.core.review``
- export: ``ClassExport`` below (relation exports the same way): the class as ``label``, a
  ``ClassLabel`` column, the label distribution on the card; selection in ``llmlabel.core.silver``
- tune writes gold labels as few-shot examples; audit (confident learning,
  ``llmlabel.core.audit``) checks classification gold
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmlabel.core import scoring
from llmlabel.core.adaptive import plurality_settled
from llmlabel.core.committee import SINGLE
from llmlabel.core.kinds.base import Kind, Table
from llmlabel.core.review import Agreement, Correction, Label, agreement
from llmlabel.core.schema import VOTE_FIELD, classification_model, vote_value
from llmlabel.core.silver import Candidate, Selection, silver_row
from llmlabel.core.silverspans import Entities
from llmlabel.core.vote import plurality
from llmlabel.errors import InputError

_TASK_HINT = "pass the task file the predictions were made with"


@dataclass(frozen=True)
class LabelReview:
    """Review of labels from the task's list: one per record, or (``multi_label``) a set,
    kept as a tuple in the task's label order (see ``llmlabel.core.kinds.base.Review``)."""

    multi_label: bool = False
    spans: bool = False
    hint: str = 'corrections rows look like {"id": "r01", "label": "negative"}'

    def label(self, value: Any, labels: Sequence[str], task: str, where: str) -> Label:
        multi = self.multi_label
        names = value if multi and isinstance(value, list) else [value]
        unknown = [v for v in names if v not in labels]
        if unknown or multi != isinstance(value, list):
            raise InputError(
                f"label {value!r} is not {'a list of labels' if multi else 'a label'} of task "
                f"'{task}'",
                where=where or None,
                hint=_TASK_HINT,
            )
        if multi:
            return tuple(label for label in labels if label in names)
        return str(value)

    def votes(self, votes: Mapping[str, int], labels: Sequence[str]) -> dict[str, int] | None:
        if self.multi_label:  # valid samples per label, every label of the task
            return {label: votes.get(label, 0) for label in labels}
        return None

    def correction(self, value: Any, labels: Sequence[str], where: str, text: Any) -> Label:
        ok = (
            isinstance(value, list) and all(v in labels for v in value)
            if self.multi_label
            else value in labels
        )
        if not ok:
            raise InputError(
                f"{value!r} is not {'a list of labels' if self.multi_label else 'a label'} "
                f"of the task ({', '.join(labels)})",
                where=where,
                hint=self.hint,
            )
        if isinstance(value, list):
            return tuple(label for label in labels if label in value)
        return str(value)

    def human(
        self, row: Mapping[str, Any], correction: Correction, labels: Sequence[str]
    ) -> dict[str, Any]:
        return {"label_confidence": dict.fromkeys(labels, 1.0)} if "label_confidence" in row else {}

    def agreement(
        self, pairs: Sequence[tuple[Label | None, Label]], labels: Sequence[str]
    ) -> Agreement:
        return agreement(pairs, labels, multi_label=self.multi_label)

    def plain(self, label: Label | None) -> Any:
        return list(label) if isinstance(label, tuple) else label

    def key(self, label: Label | None) -> Hashable:
        return frozenset(label) if isinstance(label, tuple) else label

    def example(self, label: Label) -> Any:
        return self.plain(label)

    def scores(self, label: Any) -> None:
        return None


def strata(part: Iterable[Candidate]) -> Counter[str | None]:
    """Records per stratum (``Candidate.stratum``: the class; ``None``: no label)."""
    return Counter(c.stratum for c in part)


@dataclass(frozen=True)
class ClassRows:
    """Exported rows: the record's fields and its class as ``label``."""

    id_field: str

    def row(
        self, record_id: str, data: Mapping[str, Any], where: str, candidate: Candidate
    ) -> dict[str, Any]:
        answer = {"label": candidate.label}
        return silver_row(record_id, data, self.id_field, answer, candidate.confidence)

    def notes(self) -> list[str]:
        return []


@dataclass(frozen=True)
class ClassExport:
    """A class per record (see ``llmlabel.core.kinds.base.Export``)."""

    classes: bool = True
    category: str = "text-classification"
    what: str = "label"

    def label(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("a labeled row has no string 'label'")
        return value

    def names(self, label: str | Entities) -> list[str]:
        return [label] if isinstance(label, str) else []

    def columns(self, names: Sequence[str]) -> dict[str, list[str]]:
        return {"label": list(names)}

    def answer(self, label: str | Entities | None) -> Any:
        return label

    def rows(self, id_field: str) -> ClassRows:
        return ClassRows(id_field)

    def table(self, selection: Selection) -> Table:
        names = list(selection.splits) if len(selection.splits) > 1 else []
        per_split = {name: strata(part) for name, part in selection.splits.items()}
        total = strata(selection.kept)
        rows = []
        # Most frequent first; unlabeled rows (kept with --keep-abstained) last.
        for label in sorted(total, key=lambda k: (k is None, -total[k], k or "")):
            count = total[label]
            cells = [str(per_split[n][label]) for n in names]
            share = f"{count / max(1, len(selection.kept)):.1%}"
            rows.append([label or "(no label: abstained or failed)", *cells, str(count), share])
        return Table("Label distribution", ["label", *names, "records", "share"], rows)


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
    review=LabelReview(),
    export=ClassExport(),
    example=lambda gold: gold,
    audit=True,
)
