import pytest

from llmlabel.core.spec import parse_task
from llmlabel.errors import ConfigError


def test_minimal_task_fills_defaults() -> None:
    spec = parse_task({"name": "t", "labels": ["a", "b"]})
    assert spec.label_names == ["a", "b"]
    assert spec.backend.type == "embedded"
    assert spec.effective_temperature == 0.0


def test_labels_accept_a_mapping_of_descriptions() -> None:
    spec = parse_task({"name": "t", "labels": {"a": "first", "b": "second"}})
    assert spec.labels[0].description == "first"


def test_several_samples_default_to_a_sampling_temperature() -> None:
    assert parse_task({"name": "t", "labels": ["a"], "samples": 5}).effective_temperature == 0.7


@pytest.mark.parametrize(
    ("data", "message", "hint"),
    [
        ({"name": "t", "labels": ["a"], "sampels": 3}, "unknown key 'sampels'", "'samples'"),
        ({"name": "t", "labels": ["a"], "backend": {"modle": "x"}}, "backend.modle", "'model'"),
        ({"name": "t", "labels": ["a", "a"]}, "listed twice", None),
        ({"name": "t"}, "needs `labels:`", None),
        ({"name": "t", "labels": ["a"], "samples": 0}, "'samples'", None),
        ({"name": "t", "kind": "spans", "labels": ["a"]}, "'kind'", None),
    ],
)
def test_invalid_tasks_are_one_line_errors_with_hints(data, message, hint) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        parse_task(data, source="task.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("task.yaml: ")
    if hint:
        assert info.value.hint is not None and hint in info.value.hint
