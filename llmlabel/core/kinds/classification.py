"""Classification: one label per record, from the task's label list.

- answer model: ``llmlabel.core.schema.classification_model`` (``{"label": one of labels}``)
- vote: ``llmlabel.core.vote.plurality`` (confidence = vote share; ties explicit), adaptive
  stop: ``llmlabel.core.adaptive.plurality_settled``
- committee: ``llmlabel.core.committee.SINGLE``; token logprobs give each label a probability
- scoring (``llmlabel eval``): ``llmlabel.core.scoring.CLASSIFICATION`` (accuracy, per-class
  and macro/micro F1)
"""

from __future__ import annotations

from llmlabel.core import scoring
from llmlabel.core.adaptive import plurality_settled
from llmlabel.core.committee import SINGLE
from llmlabel.core.kinds.base import Kind
from llmlabel.core.schema import VOTE_FIELD, classification_model, vote_value
from llmlabel.core.vote import plurality

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
