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

from dataclasses import replace

from llmlabel.core import relations
from llmlabel.core.kinds.classification import CLASSIFICATION

# Classification of the (head, tail) pair: its answer, vote, adaptive stop, committee and
# export; its own prompt, scoring and fields; not reviewed, audited or tuned.
RELATION = replace(
    CLASSIFICATION,
    name="relation",
    template="relation.v1",
    scoring=relations.SCORING,
    reads=("text", "head", "tail"),
    review=None,
    example=None,
    audit=False,
)
