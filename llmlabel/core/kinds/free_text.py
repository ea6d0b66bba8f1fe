"""Free text (summaries, translations): one ``text`` answer per record.

- answer model: ``llmlabel.core.schema.free_text_model`` (``{"text": ...}``; no label list)
- vote: ``llmlabel.core.textsim.medoid`` (the sample most similar to the others)
- scoring (``llmlabel eval``): ``textsim.SCORING`` (chrF, ROUGE-L)
"""

from __future__ import annotations

from llmlabel.core import textsim
from llmlabel.core.kinds.base import Kind
from llmlabel.core.schema import TEXT_FIELD, free_text_model

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
