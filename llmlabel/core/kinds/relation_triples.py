"""Relation triples: the (head, relation, tail) triples a record's ``text`` states.

- answer model: ``llmlabel.core.triples.triples_model`` (heads and tails as written; located
  in the text by ``triples.answer_value``)
- vote: ``triples.triple_vote`` (a triple is kept when more than half of the samples state it)
- scoring (``llmlabel eval``): ``triples.SCORING`` (triple P/R/F1, macro-F1 without ``Other``)
"""

from __future__ import annotations

from llmlabel.core import triples
from llmlabel.core.kinds.base import Kind

RELATION_TRIPLES = Kind(
    name="relation_triples",
    field=triples.TRIPLES_FIELD,
    template="triples.v1",
    model=triples.triples_model,
    value=triples.answer_value,
    vote=triples.triple_vote,
    answer_example=lambda labels: [
        {"head": "<entity as written>", "relation": labels[0], "tail": "<entity as written>"}
    ],
    scoring=triples.SCORING,
    reads=("text",),
    items=lambda value: [(t, (t.head, t.relation, t.tail)) for t in sorted(value.triples)],
)
