"""Structured extraction: any pydantic model the task's ``schema:`` names, filled per record.

- answer model: the task's schema (no label list); the prompt shows ``fields.skeleton``
- vote: ``llmlabel.core.fields.vote`` (per field, plurality over normalised values)
- scoring (``llmlabel eval``): ``fields.SCORING`` (per-field exact match)
"""

from __future__ import annotations

from llmlabel.core import fields
from llmlabel.core.kinds.base import Kind

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
