import pytest

from llmlabel.core.render import PromptRenderer
from llmlabel.errors import TemplateError

SOURCE = """
{% block system %}Label it as one of {{ labels | join(', ') }}.{% endblock %}
{% block user %}{{ record.text }}{% endblock %}
"""


def test_messages_are_system_then_examples_then_the_record_last() -> None:
    renderer = PromptRenderer("t.v1", SOURCE, {"labels": ["a", "b"]})
    messages = renderer.render({"text": "hello"}, [({"text": "ex"}, '{"label": "a"}')])
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0].content == "Label it as one of a, b."
    assert messages[-1].content == "hello"
    assert messages[2].content == '{"label": "a"}'


def test_record_values_are_data_not_templates() -> None:
    renderer = PromptRenderer("t.v1", SOURCE, {"labels": ["a"]})
    messages = renderer.render({"text": "{{ 7 * 7 }} {% for x in y %}"})
    assert messages[-1].content == "{{ 7 * 7 }} {% for x in y %}"


def test_undefined_variable_is_a_template_error() -> None:
    renderer = PromptRenderer("t.v1", SOURCE, {"labels": ["a"]})
    with pytest.raises(TemplateError, match=r"undefined variable.*text"):
        renderer.render({"body": "no text field"})


def test_missing_block_and_syntax_errors_name_the_template() -> None:
    with pytest.raises(TemplateError, match="missing block"):
        PromptRenderer("bad.v1", "{% block system %}x{% endblock %}", {})
    with pytest.raises(TemplateError, match="syntax error on line 1"):
        PromptRenderer("bad.v2", "{% block system %}{{ x {% endblock %}", {})


def test_sandbox_blocks_unsafe_attribute_access() -> None:
    source = (
        "{% block system %}{{ labels.__class__.__mro__ }}{% endblock %}"
        "{% block user %}{% endblock %}"
    )
    with pytest.raises(TemplateError):
        PromptRenderer("evil.v1", source, {"labels": []})


def test_hash_changes_with_the_source() -> None:
    a = PromptRenderer("t.v1", SOURCE, {"labels": []})
    b = PromptRenderer("t.v1", SOURCE + " ", {"labels": []})
    assert a.hash != b.hash and len(a.hash) == 16
