"""Label schemas: one pydantic model validates answers and generates the JSON schema sent out.

A classification task's model is generated from its labels (``label: Literal[...]``), or given
by the user as any pydantic model with a ``label`` field whose type is a ``Literal``/``Enum``.
"""

from __future__ import annotations

import enum
import json
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from llmlabel.errors import SchemaError

VOTE_FIELD = "label"


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def classification_model(labels: list[str], name: str = "Label") -> type[BaseModel]:
    """``{"label": one of labels}``, closed to other keys."""
    if not labels:
        raise SchemaError("a classification schema needs at least one label")
    choice = Literal[tuple(labels)]  # type: ignore[valid-type]
    model: type[BaseModel] = create_model(
        name,
        __base__=_Answer,
        label=(choice, Field(description="one of the allowed labels")),  # type: ignore[arg-type]
    )
    return model


def labels_of(model: type[BaseModel]) -> list[str]:
    """The allowed values of the model's ``label`` field, in declaration order."""
    field = model.model_fields.get(VOTE_FIELD)
    if field is None:
        raise SchemaError(
            f"schema {model.__name__} has no '{VOTE_FIELD}' field",
            hint="a classification schema needs a field `label: Literal[...]`",
        )
    annotation = field.annotation
    if typing.get_origin(annotation) is Literal:
        return [str(v) for v in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    raise SchemaError(
        f"schema {model.__name__}.{VOTE_FIELD} is {annotation!r}, not a Literal or Enum",
        hint="declare it as `label: Literal['a', 'b', ...]`",
    )


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema for constrained decoding, closed (no extra keys) at every object level."""
    schema = model.model_json_schema()
    _close_objects(schema)
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
    value = getattr(answer, VOTE_FIELD)
    return str(value.value if isinstance(value, enum.Enum) else value)


def example_answer(model: type[BaseModel], answer: dict[str, Any]) -> str:
    """The compact JSON an assistant turn shows for a few-shot example (validated first)."""
    validated = model.model_validate(answer)
    return json.dumps(validated.model_dump(mode="json"), ensure_ascii=False)
