"""The output row: what ``llmlabel run`` writes for each record, and what every command reads.

One model, so a row's shape is written down once. The runner builds its rows through it and
writes ``Row.dump()``; ``llmlabel.io.rowfile.read_rows`` reads them back as ``Row`` values,
naming the file, line and field of a malformed one. Pure: no I/O.

Readable across versions: keys that older versions did not write have defaults (``dump`` leaves
out what a row did not have, so a row read and dumped again is the line it was), and keys this
version does not know are kept, not refused (``extra="allow"``). A ``labeled`` row's ``label``
is checked against its kind (``provenance.kind``; rows without one are checked by the command
that knows the kind).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from llmlabel.core.metrics import Status
from llmlabel.errors import InputError

HINT = "pass a file written by `llmlabel run`"


class _Open(BaseModel):
    """A value of a row: strict types, unknown keys kept (a later version may add some)."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)


class RowUsage(_Open):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Entity(_Open):
    """A voted NER span (``label`` of an ``ner`` row)."""

    start: int
    end: int
    label: str
    text: str
    confidence: float | None = None


class Argument(_Open):
    text: str
    start: int | None = None
    end: int | None = None


class Triple(_Open):
    """A voted (head, relation, tail) triple (``label`` of a ``relation_triples`` row)."""

    head: Argument
    relation: str
    tail: Argument
    confidence: float | None = None


LABELS: dict[str, tuple[str, TypeAdapter[Any]]] = {
    "classification": ("a string", TypeAdapter(str)),
    "relation": ("a string", TypeAdapter(str)),
    "free_text": ("a string", TypeAdapter(str)),
    "multi_label": ("a list of strings", TypeAdapter(list[str])),
    "ner": ("a list of {start, end, label, text} entities", TypeAdapter(list[Entity])),
    "relation_triples": ("a list of {head, relation, tail} triples", TypeAdapter(list[Triple])),
    "extraction": ("an object", TypeAdapter(dict[str, Any])),
}
"""What a labeled row's ``label`` is, by task kind: in words, and the type that checks it."""


class Row(_Open):
    """One output row. Fields are in the order they are written; optional ones appear only
    where the run has them (the comments say when)."""

    id: str | int | None
    """The record's id; ``None`` only on a ``skipped`` row of a line that could not be read
    (or a repeated id), which ``where`` names instead."""
    status: Status
    label: Any = None
    """The voted answer (``LABELS`` gives its type per kind); ``None`` unless labeled."""
    confidence: float = Field(0.0, ge=0.0, le=1.0)
    """Calibrated where the task has a calibration (``confidence_raw`` is then the vote's)."""
    votes: dict[str, NonNegativeInt] = {}
    """Valid samples per label (per span, triple or field path for those kinds)."""
    tie: bool = False
    reason: str | None = None
    """Why the record abstained."""
    error: str | None = None
    """Why it failed or was skipped."""
    invalid: list[str] = []
    """Each invalid sample's reason."""
    examples: list[str] = []
    """Ids of the few-shot examples shown."""
    usage: RowUsage = RowUsage()
    provenance: dict[str, Any] = {}
    """How the row was made: the task, ``kind``, template and hash, backend, model, sampling;
    a dict, not a model, so its keys are written back in the order they were read."""
    confidence_raw: float | None = None
    """With a calibration: the confidence before it."""
    route: Literal["keep", "review"] | None = None
    """With a calibration: whether the row clears its threshold."""
    input: dict[str, Any] | None = None
    """The record's fields named by ``keep_fields``."""
    label_confidence: dict[str, float] | None = None
    """Per label / span / triple / field: the confidence of keeping (or leaving) it."""
    tags: list[str] | None = None
    """NER with tokens: BIO tags of the voted spans."""
    dropped_spans: list[str] | None = None
    dropped_triples: list[str] | None = None
    """Spans / triples an answer named that are not in the text, with why."""
    probs: dict[str, float] | None = None
    """The label distribution (vote shares or from token logprobs; per label for multi-label)."""
    confidence_method: str | None = None
    """Where ``probs`` / the confidence came from: ``vote``, ``logprob`` or ``combined``."""
    confidence_note: str | None = None
    """Why the confidence is not the method the task asked for."""
    samples_used: int | None = None
    """Adaptive sampling: samples drawn before the vote was settled."""
    logprobs: list[float | None] | None = None
    """``logprobs: true``: each sample's mean token logprob."""
    shortlist: list[str] | None = None
    """``shortlist:`` tasks: the labels the record was asked among (task order)."""
    shortlist_fallback: bool | None = None
    """True when the shortlist's confidence was below ``shortlist.fallback_below`` and the row
    is the record labeled again among every label."""
    committee: dict[str, Any] | None = None
    """Committee runs: per-member votes, samples, weights and their disagreement."""
    where: str | None = None
    """A ``skipped`` row: where its record is in the input."""
    source: Literal["model", "human"] | None = None
    """``review merge``: whose label this is."""
    reviewer: str | None = None
    model: dict[str, Any] | None = None
    """``review merge`` of a corrected row: the model's ``status``, ``label`` and ``confidence``."""

    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Row:
        row: Row = handler(data)
        if isinstance(data, dict):  # ``dump`` writes the keys back in this order
            row._order = tuple(data)
        return row

    @model_validator(mode="after")
    def _consistent(self) -> Row:
        if self.id is None and self.status != "skipped":
            raise ValueError("id: only a skipped row may have no id")
        if self.status != "labeled":
            return self
        kind = self.kind
        if kind in LABELS:
            form, adapter = LABELS[kind]
            try:
                adapter.validate_python(self.label, strict=True)
            except ValidationError as exc:
                found = problem(exc, "label")
                raise ValueError(f"a labeled {kind} row's label is {form}; {found}") from None
        return self

    @property
    def kind(self) -> str | None:
        """The task kind the row was labeled under, if it says (rows written before kinds were
        recorded do not: they are classification)."""
        kind = self.provenance.get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def key(self) -> str:
        """The id as the string other files are joined on (a skipped row's ``where``)."""
        return str(self.where) if self.id is None else str(self.id)

    def dump(self) -> dict[str, Any]:
        """The row as written: the keys it was made with (an old row stays as it was), in the
        order they were given."""
        data = self.model_dump(exclude_unset=True)
        return {**{k: data[k] for k in self._order if k in data}, **data}


def read_row(data: Mapping[str, Any], where: str) -> Row:
    """One parsed output line as a ``Row``; else an ``InputError`` that names ``where`` (a
    file and line) and the bad field."""
    try:
        return Row.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"not an output row: {problem(exc)}", where=where, hint=HINT) from None


def problem(exc: ValidationError, prefix: str = "") -> str:
    """The first error of ``exc`` in one line: the field's path, what is wrong, what it got."""
    error = exc.errors(include_url=False)[0]
    path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"] and not prefix:  # a check of the whole row names its field itself
        return message
    if error["type"] == "missing":
        return f"{path}: missing"
    got = repr(error.get("input"))
    got = got if len(got) <= 40 else got[:37] + "..."
    return f"{path}: {message} (got {got})"
