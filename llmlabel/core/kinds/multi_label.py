"""Multi-label: a set of labels per record, from the task's label list.

- answer model: ``llmlabel.core.schema.multilabel_model`` (``{"labels": [...]}``)
- vote: ``llmlabel.core.vote.per_label_majority`` (a label is kept when more than half of the
  samples name it), adaptive stop: ``llmlabel.core.adaptive.per_label_settled``
- committee: ``llmlabel.core.committee_sets.MULTI_LABEL`` (label by label)
- scoring (``llmlabel eval``): ``llmlabel.core.scoring.MULTI_LABEL`` (micro/macro F1, subset
  accuracy, Hamming loss; set counting in ``llmlabel.core.labelsets``)
- decoding: ``label_lists: walk`` (opt-in) chooses the labels one by one
  (``llmlabel.runs.distribution.label_list``)
- review: ``llmlabel.core.kinds.classification.LabelReview`` with a label set: uncertainty
  label by label, kappa over the record × label decisions
- tune writes gold label sets (sorted) as few-shot examples
"""

from __future__ import annotations

from llmlabel.core import committee_sets, scoring
from llmlabel.core.adaptive import per_label_settled
from llmlabel.core.kinds.base import Kind
from llmlabel.core.kinds.classification import LabelReview
from llmlabel.core.schema import MULTI_FIELD, label_set, multilabel_model
from llmlabel.core.vote import per_label_majority

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
    walks_labels=True,
    review=LabelReview(multi_label=True),
    example=sorted,
)
