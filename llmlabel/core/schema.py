"""Label schemas: one pydantic model validates answers and generates the JSON schema sent out.

A classification task's model is generated from its labels (``label: Literal[...]``), or given
by the user as any pydantic model with a ``label`` field whose type is a ``Literal``/``Enum``.
A multi-label task's model has ``labels: list[Literal[...]]`` (at most one of each label).
"""

from __future__ import annotations

import enum
import json
import sys
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from llmlabel.errors import SchemaError

VOTE_FIELD = "label"
MULTI_FIELD = "labels"
TEXT_FIELD = "text"

ITEM_SEPARATOR, KEY_SEPARATOR = ", ", ": "
"""How every answer is written: few-shot turns show these separators and constrained decoders
force them (``x-guidance`` in the schema, read by llguidance and our own backends). They must
match. With compact ``,``/``:`` forced after examples written with spaces, the 1.5B model
answered "description" for all 200 TREC records at 8 shots and "no entities" for every CoNLL
sentence (eval/results/quality.md)."""
GUIDANCE: dict[str, Any] = {"item_separator": ITEM_SEPARATOR, "key_separator": KEY_SEPARATOR}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def classification_model(labels: list[str], name: str = "Label") -> type[BaseModel]:
    """``{"label": one of labels}``, closed to other keys."""
    if not labels:
        raise SchemaError("a classification schema needs at least one label")
    fields: dict[str, Any] = {
        VOTE_FIELD: (_literal(labels), Field(description="one of the allowed labels"))
    }
    model: type[BaseModel] = create_model(name, __base__=_Answer, **fields)
    return model


def multilabel_model(labels: list[str], name: str = "Labels") -> type[BaseModel]:
    """``{"labels": [zero or more of labels]}``, closed to other keys, each label at most once."""
    if not labels:
        raise SchemaError("a multi-label schema needs at least one label")
    items: Any = list.__class_getitem__(_literal(labels))
    fields: dict[str, Any] = {
        MULTI_FIELD: (
            items,
            Field(max_length=len(labels), description="every label that applies; [] if none"),
        )
    }
    model: type[BaseModel] = create_model(name, __base__=_Answer, **fields)
    return model


class FreeText(_Answer):
    """A free-text answer (summary, translation, rewrite): one non-empty text, stripped."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    text: str = Field(min_length=1, description="the requested text")


def free_text_model(labels: list[str]) -> type[BaseModel]:
    """The answer model of a free-text task (``labels`` unused: free text has none)."""
    return FreeText


def _literal(labels: list[str]) -> Any:
    """``Literal[*labels]``, built at run time (the labels come from the task file)."""
    literal: Any = Literal
    return literal[tuple(labels)]


def labels_of(model: type[BaseModel], field_name: str = VOTE_FIELD) -> list[str]:
    """The allowed values of the model's vote field (``label``, or the items of ``labels``)."""
    field = model.model_fields.get(field_name)
    if field is None:
        raise SchemaError(
            f"schema {model.__name__} has no '{field_name}' field",
            hint=f"the schema needs a field `{field_name}` typed with a Literal (or Enum)",
        )
    annotation = field.annotation
    if field_name == MULTI_FIELD and typing.get_origin(annotation) in (list, set, frozenset):
        (annotation,) = typing.get_args(annotation) or (None,)
    if typing.get_origin(annotation) is Literal:
        return [str(v) for v in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    raise SchemaError(
        f"schema {model.__name__}.{field_name} is {field.annotation!r}, not a Literal or Enum",
        hint=f"declare it as `{field_name}: Literal['a', 'b', ...]`"
        if field_name == VOTE_FIELD
        else f"declare it as `{field_name}: list[Literal['a', 'b', ...]]`",
    )


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema for constrained decoding, closed (no extra keys) at every object level,
    with the answer separators (``GUIDANCE``) a decoder must force."""
    schema = model.model_json_schema()
    _close_objects(schema)
    schema.setdefault("x-guidance", GUIDANCE)
    return schema


def _close_objects(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


def vote_value(answer: BaseModel) -> str:
    """The normalised value an answer votes for (enum members by value)."""
    return _plain(getattr(answer, VOTE_FIELD))


def label_set(answer: BaseModel) -> frozenset[str]:
    """The set of labels a multi-label answer votes for (duplicates collapse)."""
    return frozenset(_plain(v) for v in getattr(answer, MULTI_FIELD))


def _plain(value: Any) -> str:
    return str(value.value if isinstance(value, enum.Enum) else value)


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    """``model.model_validate(data)``; a validator that breaks otherwise than by rejecting the
    value (``ValueError``, ``ValidationError``) or calls ``sys.exit`` is the schema's fault, not
    the answer's: a ``SchemaError`` naming the schema's file, so the run stops on it."""
    try:
        return model.model_validate(data)
    except ValidationError:
        raise
    except (Exception, SystemExit) as exc:
        module = sys.modules.get(model.__module__)
        raise SchemaError(
            f"schema {model.__name__} failed on {data!r:.80}: {type(exc).__name__}: {exc}",
            where=getattr(module, "__file__", None) or model.__module__,
            hint="a validator rejects a value by raising ValueError; fix the schema file",
        ) from None


def example_answer(model: type[BaseModel], answer: dict[str, Any]) -> str:
    """The compact JSON an assistant turn shows for a few-shot example (validated first)."""
    validated = validate(model, answer)
    return json.dumps(
        validated.model_dump(mode="json"),
        ensure_ascii=False,
        separators=(ITEM_SEPARATOR, KEY_SEPARATOR),
    )
