"""Relation classification: the relation between a record's given ``head`` and ``tail``.

- answer model: ``llmlabel.core.schema.classification_model`` (one relation label)
- vote: ``llmlabel.core.vote.plurality``; adaptive stop:
  ``llmlabel.core.adaptive.plurality_settled``
- committee: ``llmlabel.core.committee.SINGLE``
- scoring (``llmlabel eval``): ``llmlabel.core.relations.SCORING`` (accuracy, macro-F1
  without ``Other``, direction-aware labels)
- export: ``llmlabel.core.kinds.classification.ClassExport`` (the relation as ``label``)
"""

from __future__ import annotations

from llmlabel.core import relations
from llmlabel.core.adaptive import plurality_settled
from llmlabel.core.committee import SINGLE
from llmlabel.core.kinds.base import Kind
from llmlabel.core.kinds.classification import ClassExport
from llmlabel.core.schema import VOTE_FIELD, classification_model, vote_value
from llmlabel.core.vote import plurality

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
    export=ClassExport(),
)
