import pytest

from llmlabel.core.parse import parse_answer
from llmlabel.core.schema import classification_model, label_set, multilabel_model, vote_value

LABELS = ["positive", "negative"]
Model = classification_model(LABELS)


@pytest.mark.parametrize(
    "text",
    [
        '{"label": "positive"}',
        '```json\n{"label": "positive"}\n```',
        'Sure! {"label": "positive"} Hope that helps.',
        '{"label": " Positive "}',
        '{\n  "label": "POSITIVE"\n}',
    ],
)
def test_valid_answers_parse_to_the_label(text: str) -> None:
    parsed = parse_answer(text, Model, LABELS)
    assert parsed.ok and parsed.answer is not None
    assert vote_value(parsed.answer) == "positive"


def test_unknown_label_is_invalid_with_the_allowed_values_in_the_reason() -> None:
    parsed = parse_answer('{"label": "mixed"}', Model, LABELS)
    assert not parsed.ok
    assert parsed.error is not None and "label" in parsed.error and "positive" in parsed.error


def test_non_json_is_invalid_and_quoted() -> None:
    parsed = parse_answer("I think it is positive", Model, LABELS)
    assert not parsed.ok
    assert parsed.error is not None and parsed.error.startswith("not valid JSON")


def test_extra_keys_are_rejected() -> None:
    parsed = parse_answer('{"label": "positive", "why": "x"}', Model, LABELS)
    assert not parsed.ok


def test_multilabel_answers_normalise_each_label() -> None:
    model = multilabel_model(["billing", "refund"])
    parsed = parse_answer(
        '{"labels": ["Billing", " refund "]}', model, ["billing", "refund"], "labels"
    )
    assert parsed.answer is not None and label_set(parsed.answer) == {"billing", "refund"}
    bad = parse_answer('{"labels": ["shipping"]}', model, ["billing", "refund"], "labels")
    assert not bad.ok and bad.error is not None and "labels.0" in bad.error
