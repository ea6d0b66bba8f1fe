"""Task kinds: one module per kind, one registry table.

Each module (``classification``, ``multi_label``, ``ner``, ``relation``, ``relation_triples``,
``extraction``, ``free_text``) owns its ``Kind``: the answer model, the vote, the adaptive stop
rule, the scoring against gold, and what review and export do with its rows, naming the math
modules of ``llmlabel.core`` it is built from. Task preparation, the runner and the commands
look a kind up here (``KINDS[spec.kind]``) and ask it; no kind checks are threaded through the
rest of the code (``tests/test_kinds_layout.py`` holds them to that). A new kind is one new
module here, one line in ``KINDS``, and one test file.
"""

from __future__ import annotations

from typing import Any

from llmlabel.core.kinds.base import Kind as Kind
from llmlabel.core.kinds.classification import CLASSIFICATION
from llmlabel.core.kinds.extraction import EXTRACTION
from llmlabel.core.kinds.free_text import FREE_TEXT
from llmlabel.core.kinds.multi_label import MULTI_LABEL
from llmlabel.core.kinds.ner import NER
from llmlabel.core.kinds.relation import RELATION
from llmlabel.core.kinds.relation_triples import RELATION_TRIPLES

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        CLASSIFICATION,
        MULTI_LABEL,
        NER,
        RELATION,
        RELATION_TRIPLES,
        EXTRACTION,
        FREE_TEXT,
    )
}
"""Every task kind by name (messages that list kinds follow this order)."""

DEFAULT_KIND = "classification"
"""The kind of rows that do not name one (written before rows carried ``provenance.kind``)."""


def guess_kind(label: Any) -> str | None:
    """The kind a row's ``label`` looks like, for rows that do not name theirs (``None``: no
    label, or an empty list, says nothing)."""
    if isinstance(label, str):
        return CLASSIFICATION.name
    if isinstance(label, dict):
        return EXTRACTION.name
    if isinstance(label, list) and label:
        return NER.name if isinstance(label[0], dict) else MULTI_LABEL.name
    return None
