import enum
from typing import Literal

import pytest
from pydantic import BaseModel

from llmlabel.core.schema import (
    classification_model,
    example_answer,
    json_schema,
    label_set,
    labels_of,
    multilabel_model,
    vote_value,
)
from llmlabel.errors import SchemaError


def test_generated_schema_is_closed_enum_and_validates_with_the_same_model() -> None:
    model = classification_model(["a", "b"])
    schema = json_schema(model)
    assert schema["properties"]["label"]["enum"] == ["a", "b"]
    assert schema["required"] == ["label"]
    assert schema["additionalProperties"] is False
    assert vote_value(model.model_validate({"label": "b"})) == "b"


def test_labels_of_reads_literal_and_enum_fields() -> None:
    class Color(enum.Enum):
        RED = "red"
        BLUE = "blue"

    class ByEnum(BaseModel):
        label: Color

    class ByLiteral(BaseModel):
        label: Literal["x", "y"]

    assert labels_of(ByEnum) == ["red", "blue"]
    assert labels_of(ByLiteral) == ["x", "y"]
    assert vote_value(ByEnum(label=Color.RED)) == "red"


def test_schema_without_label_field_is_a_clear_error() -> None:
    class NoLabel(BaseModel):
        category: str

    with pytest.raises(SchemaError, match="no 'label' field"):
        labels_of(NoLabel)


def test_example_answer_is_compact_validated_json() -> None:
    model = classification_model(["a", "b"])
    assert example_answer(model, {"label": "a"}) == '{"label": "a"}'
    with pytest.raises(ValueError):
        example_answer(model, {"label": "zzz"})


def test_multilabel_schema_is_a_bounded_list_of_the_labels() -> None:
    model = multilabel_model(["a", "b", "c"])
    schema = json_schema(model)["properties"]["labels"]
    assert schema["items"]["enum"] == ["a", "b", "c"] and schema["maxItems"] == 3
    assert labels_of(model, "labels") == ["a", "b", "c"]
    assert label_set(model.model_validate({"labels": ["b", "a", "b"]})) == {"a", "b"}
    with pytest.raises(ValueError):
        model.model_validate({"labels": ["zzz"]})


def test_a_user_multilabel_schema_needs_a_list_of_literals() -> None:
    class Tags(BaseModel):
        labels: list[Literal["x", "y"]]

    class Loose(BaseModel):
        labels: list[str]

    assert labels_of(Tags, "labels") == ["x", "y"]
    with pytest.raises(SchemaError, match="not a Literal"):
        labels_of(Loose, "labels")
