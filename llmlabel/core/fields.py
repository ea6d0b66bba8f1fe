"""Structured extraction: answers split into fields, voted field by field and scored. Pure.

An answer (an instance of the task's pydantic schema) is a tree: a nested model is a branch,
every other value (string, number, date, enum, bool, null, list, dict) a leaf, named by its
dotted path (``vendor.name``). Leaves compare by normalised value, so spelling alone never
splits a vote:
- strings: casefolded, whitespace runs collapsed, ends stripped;
- numbers, dates, enums and the rest as the schema parsed them (in a number field ``"12.50"``
  and ``12.5`` are one value; enum members by value);
- lists item by item in order, sets and dicts regardless of order, models inside them field by
  field.

Vote rules (``vote``):
- Each leaf is a plurality over the valid samples; its ``label_confidence`` is the winner's
  votes over all samples, so invalid samples lower it. The record's confidence is its weakest
  field's (as multi-label's is its weakest label's).
- A tie prefers a nested model over a plain value, a value over null, then the smallest value
  by ``repr``, never sample order, and sets ``tie``.
- A nested model that some samples give and others leave null (an optional one) is first voted
  given vs each plain value; if given wins, its fields are voted among the samples that give it.
- The winner is written as most of its samples spelled it (equal counts: the smallest JSON).
- The assembled answer is validated against the schema again. Should a rule across fields
  reject it, the answer is the valid sample agreeing with the most field winners, each field's
  confidence the share of samples agreeing with that sample there.

Scoring (``SCORING``): gold rows are ``{"id": ..., "answer": {...}}``. Gold and predicted
answers are flattened to normalised leaves the same way (dates as ISO strings, numbers as
numbers: a ``Decimal`` field is written to the row as a JSON number, not pydantic's string);
a record is right when every field matches, and each field's exact match is reported.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal, Union

from pydantic import BaseModel, ValidationError

from llmlabel.core.metrics import ClassScore, Outcome
from llmlabel.core.scoring import Metric, Scoring, Unscorable
from llmlabel.core.vote import Vote, abstain

Flat = tuple[tuple[str, Hashable], ...]
"""An answer's leaves as (dotted path, normalised value) pairs, sorted by path."""
_MISSING = object()


@dataclass(frozen=True)
class Leaf:
    """A plain value: ``key`` is what votes compare, ``shown`` the JSON value as answered."""

    key: Hashable
    shown: Any = field(compare=False)


@dataclass(frozen=True)
class Branch:
    """A nested model: its fields in schema order."""

    fields: tuple[tuple[str, Leaf | Branch], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)


Node = Leaf | Branch


@dataclass(frozen=True)
class Extracted:
    """One sample's answer as a hashable tree (equal when every normalised value is)."""

    schema: type[BaseModel]
    root: Branch


def extracted(answer: BaseModel) -> Extracted:
    """The vote value of a validated answer."""
    return Extracted(type(answer), _branch(answer, answer.model_dump(mode="json")))


def normalise(value: Any) -> Hashable:
    """The value a field votes and scores on (see the module docstring)."""
    if isinstance(value, enum.Enum):
        return normalise(value.value)
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    if isinstance(value, BaseModel):
        return tuple((name, normalise(getattr(value, name))) for name in type(value).model_fields)
    if isinstance(value, (list, tuple)):
        return tuple(normalise(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(normalise(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted(((normalise(k), normalise(v)) for k, v in value.items()), key=repr))
    return value if isinstance(value, Hashable) else repr(value)


def _branch(model: BaseModel, shown: Mapping[str, Any]) -> Branch:
    return Branch(
        tuple(
            (name, _node(getattr(model, name), shown.get(name)))
            for name in type(model).model_fields
        )
    )


def _node(value: Any, shown: Any) -> Node:
    if isinstance(value, BaseModel):
        return _branch(value, shown)
    return Leaf(normalise(value), _decimals_as_numbers(value, shown))


def _decimals_as_numbers(value: Any, shown: Any) -> Any:
    """``shown`` with the finite Decimals of ``value`` as JSON numbers: pydantic's JSON mode
    writes them as strings, and a string never matches a numeric gold value."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            return shown
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, BaseModel) and isinstance(shown, Mapping):
        return {k: _decimals_as_numbers(getattr(value, k, None), v) for k, v in shown.items()}
    if isinstance(value, Mapping) and isinstance(shown, Mapping):
        pairs = zip(value.values(), shown.items(), strict=False)
        return {k: _decimals_as_numbers(v, s) for v, (k, s) in pairs}
    if isinstance(value, (list, tuple, set, frozenset)) and isinstance(shown, list):
        return [_decimals_as_numbers(v, s) for v, s in zip(value, shown, strict=False)]
    return shown


# ---- the vote ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Given:
    """The option "this nested model is given", with its field names."""

    names: tuple[str, ...]


def _option(node: Node) -> Hashable:
    return _Given(node.names) if isinstance(node, Branch) else node.key


def _tie_order(option: Hashable) -> tuple[int, str]:
    rank = 0 if isinstance(option, _Given) else 2 if option is None else 1
    return rank, repr(option)


class _Tally:
    """Votes a tree of nodes (one per valid sample); remembers each leaf's winner."""

    def __init__(self) -> None:
        self.winners: dict[str, tuple[Hashable, int]] = {}
        self.tie = False

    def node(self, path: str, nodes: Sequence[Node]) -> Any:
        options = Counter(_option(n) for n in nodes)
        best = max(options.values())
        leaders = sorted((o for o, c in options.items() if c == best), key=_tie_order)
        self.tie = self.tie or len(leaders) > 1
        winner = leaders[0]
        if isinstance(winner, _Given):
            given = [n for n in nodes if isinstance(n, Branch) and n.names == winner.names]
            return {
                name: self.node(_join(path, name), [dict(b.fields)[name] for b in given])
                for name in winner.names
            }
        self.winners[path] = (winner, best)
        return _spelling([n for n in nodes if isinstance(n, Leaf) and n.key == winner])


def _spelling(leaves: Sequence[Leaf]) -> Any:
    spellings = {_canonical(leaf.shown): leaf.shown for leaf in leaves}
    counts = Counter(_canonical(leaf.shown) for leaf in leaves)
    most = max(counts.values())
    return spellings[min(s for s, c in counts.items() if c == most)]


def vote(
    values: Sequence[Extracted | None], order: Sequence[str] = (), reasons: Sequence[str] = ()
) -> Vote:
    """Per-field vote over extraction samples (``None`` = invalid sample); ``order`` unused."""
    total = len(values)
    valid = [v for v in values if v is not None]
    if not valid:
        return abstain(total, reasons)
    tally = _Tally()
    label = tally.node("", [v.root for v in valid])
    votes = {path: count for path, (_, count) in tally.winners.items()}
    if not _fits(valid[0].schema, label):
        flats = [dict(_flatten(v.root)) for v in valid]
        winners = {path: key for path, (key, _) in tally.winners.items()}
        chosen = min(
            valid,
            key=lambda v: (
                -_agreement(dict(_flatten(v.root)), winners),
                _canonical(_shown(v.root)),
            ),
        )
        label = _shown(chosen.root)
        votes = {
            path: sum(1 for flat in flats if path in flat and flat[path] == key)
            for path, key in _flatten(chosen.root)
        }
    shares = {path: count / total for path, count in votes.items()}
    return Vote(
        label=label,
        confidence=min(shares.values(), default=len(valid) / total),
        counts=votes,
        total=total,
        tie=tally.tie,
        label_confidence={path: round(share, 6) for path, share in shares.items()},
    )


def _fits(schema: type[BaseModel], label: Any) -> bool:
    try:
        schema.model_validate_json(json.dumps(label))
    except ValidationError:
        return False
    return True


def _flatten(node: Node, path: str = "") -> list[tuple[str, Hashable]]:
    if isinstance(node, Leaf):
        return [(path, node.key)]
    return [pair for name, child in node.fields for pair in _flatten(child, _join(path, name))]


def _agreement(flat: Mapping[str, Hashable], winners: Mapping[str, Hashable]) -> int:
    return sum(1 for path, key in winners.items() if path in flat and flat[path] == key)


def _shown(node: Node) -> Any:
    if isinstance(node, Leaf):
        return node.shown
    return {name: _shown(child) for name, child in node.fields}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# ---- the answer's shape shown to the model ---------------------------------------------------

_PLACEHOLDERS: dict[type, str] = {
    str: "<text>",
    bool: "<true or false>",
    int: "<integer>",
    float: "<number>",
    Decimal: "<number>",
    datetime: "<YYYY-MM-DDTHH:MM:SS>",
    date: "<YYYY-MM-DD>",
    time: "<HH:MM:SS>",
}


def skeleton(model: type[BaseModel]) -> dict[str, Any]:
    """A compact example of the schema's JSON with placeholders, for prompts and re-asks."""
    return {name: _placeholder(f.annotation) for name, f in model.model_fields.items()}


def _placeholder(annotation: Any) -> Any:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return skeleton(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(str(m.value) for m in annotation)
    if origin is typing.Annotated:
        return _placeholder(args[0])
    if origin is Literal:
        return " | ".join(str(a) for a in args)
    if origin in (Union, types.UnionType):
        options = [_placeholder(a) for a in args if a is not type(None)]
        if len(options) == 1 and not isinstance(options[0], str):
            return options[0]
        text = " | ".join(str(o) for o in options)
        return f"{text} or null" if type(None) in args else text
    if origin in (list, set, frozenset, tuple, Sequence):
        return [_placeholder(args[0]), "..."] if args else ["..."]
    if origin in (dict, Mapping):
        return {"<key>": _placeholder(args[1]) if len(args) == 2 else "<value>"}
    for kind, placeholder in _PLACEHOLDERS.items():
        if isinstance(annotation, type) and issubclass(annotation, kind):
            return placeholder
    return "<value>"


# ---- scoring against gold ------------------------------------------------------------------


def flatten_json(answer: Mapping[str, Any]) -> Flat:
    """A JSON answer's leaves (nested objects walked, lists kept whole), normalised, by path."""

    def walk(value: Any, path: str) -> list[tuple[str, Hashable]]:
        if isinstance(value, Mapping) and (value or not path):
            return [pair for k, v in value.items() for pair in walk(v, _join(path, str(k)))]
        return [(path, normalise(value))]

    return tuple(sorted(walk(answer, "")))


def _gold(row: Mapping[str, Any]) -> Flat:
    answer = row.get("answer")
    if not isinstance(answer, Mapping):
        raise Unscorable(
            "has no `answer` object", 'gold rows look like {"id": ..., "answer": {...}}'
        )
    return flatten_json(answer)


def _predicted(label: Any) -> Flat:
    if not isinstance(label, Mapping):
        raise Unscorable(
            f"has no extracted object (got {type(label).__name__})",
            hint="extraction predictions have an object `label` per row",
        )
    return flatten_json(label)


def field_accuracy(outcomes: Sequence[Outcome]) -> float:
    """Share of all gold (record, field) pairs whose prediction matches exactly."""
    hits = total = 0
    for o in outcomes:
        predicted = dict(o.predicted or ())
        total += len(o.gold)
        hits += sum(1 for path, key in o.gold if predicted.get(path, _MISSING) == key)
    return hits / total if total else 0.0


def per_field(outcomes: Sequence[Outcome]) -> list[ClassScore]:
    """Exact match per gold field: ``recall`` over every record with the field (abstentions
    miss), ``precision`` over those of them that were labeled, ``f1`` their harmonic mean."""
    support: Counter[str] = Counter()
    labeled: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for o in outcomes:
        predicted = dict(o.predicted) if o.predicted is not None else None
        for path, key in o.gold:
            support[path] += 1
            if predicted is not None:
                labeled[path] += 1
                hits[path] += path in predicted and predicted[path] == key
    scores = []
    for path in sorted(support):
        precision = hits[path] / labeled[path] if labeled[path] else 0.0
        recall = hits[path] / support[path]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(
            ClassScore(
                label=path,
                precision=precision,
                recall=recall,
                f1=f1,
                support=support[path],
                predicted=labeled[path],
            )
        )
    return scores


SCORING = Scoring(
    gold=_gold,
    predicted=_predicted,
    metrics=(Metric("field_accuracy", "field exact match", field_accuracy),),
    gold_format='{"id": ..., "answer": {...}}',
    per_class=per_field,
    per_class_title="Per field (exact match; precision over labeled records, recall over all)",
)
