"""NER: the entities of a record's ``text``, each a typed character span. Everything NER starts
here; the math it names lives beside the other kinds' in ``llmlabel.core``:

- answer model: ``llmlabel.core.spans.ner_model`` (the model writes ``{text, label}``; the
  offsets are recovered in the record's text by ``spans.answer_value``, never trusted)
- vote: ``spans.span_vote`` (a span is kept when more than half of the samples find it; each
  kept span has its own confidence); token logprobs weigh each span (``items``)
- committee: ``llmlabel.core.committee_sets.SPANS`` (span by span; regex rules find spans)
- scoring (``llmlabel eval``): ``spans.SCORING``: strict span P/R/F1 (seqeval-style), per type,
  counted by ``llmlabel.core.labelsets.SetCounts``
"""

from __future__ import annotations

from llmlabel.core import committee_sets, spans
from llmlabel.core.kinds.base import Kind

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
)
