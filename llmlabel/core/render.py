"""Render a versioned Jinja template into chat messages.

A template defines two blocks: ``system`` (instructions, labels, answer format; rendered once
per run) and ``user`` (one record). Few-shot examples become prior user/assistant turns and the
record comes last, so every record shares the same prefix and a server's prefix cache hits.
Record values are passed as variables and never compiled as templates; the environment is
sandboxed and undefined variables are errors.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from llmlabel.core.request import Message
from llmlabel.errors import TemplateError

REQUIRED_BLOCKS = ("system", "user")

_ENV = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)


def template_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


class PromptRenderer:
    """Compiled template + the run-wide variables; renders one record's messages."""

    def __init__(self, name: str, source: str, context: Mapping[str, Any]):
        self.name = name
        self.hash = template_hash(source)
        try:
            self._template = _ENV.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"syntax error on line {exc.lineno}: {exc.message}",
                where=f"template {name}",
                hint="check the {% %} and {{ }} pairs",
            ) from None
        missing = [b for b in REQUIRED_BLOCKS if b not in self._template.blocks]
        if missing:
            raise TemplateError(
                f"missing block(s): {', '.join(missing)}",
                where=f"template {name}",
                hint="a template defines {% block system %} and {% block user %}",
            )
        self._context = dict(context)
        self.system = self._block("system", self._context, "the system block")

    def with_context(self, **changes: Any) -> PromptRenderer:
        """The same compiled template with some run-wide variables changed (a task narrowed
        to a shortlist of its labels); its system block is rendered again."""
        renderer = copy.copy(self)
        renderer._context = {**self._context, **changes}
        renderer.system = renderer._block("system", renderer._context, "the system block")
        return renderer

    def render(
        self, record: Mapping[str, Any], examples: Sequence[tuple[Mapping[str, Any], str]] = ()
    ) -> tuple[Message, ...]:
        """Messages for one record; ``examples`` are (record data, answer JSON) pairs."""
        messages = [Message(role="system", content=self.system)]
        for example, answer in examples:
            messages.append(Message(role="user", content=self.user(example, "a few-shot example")))
            messages.append(Message(role="assistant", content=answer))
        messages.append(Message(role="user", content=self.user(record, "the record")))
        return tuple(messages)

    def user(self, record: Mapping[str, Any], what: str) -> str:
        return self._block("user", {**self._context, "record": dict(record)}, what)

    def _block(self, block: str, variables: dict[str, Any], what: str) -> str:
        try:
            context = self._template.new_context(variables)
            return "".join(self._template.blocks[block](context)).strip()
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                f"undefined variable while rendering {what}: {exc.message}",
                where=f"template {self.name}",
                hint="check the record has the fields the template uses (`fields:` in the task)",
            ) from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(
                f"unsafe operation in template: {exc}",
                where=f"template {self.name}",
                hint="templates run sandboxed: use the record's fields and Jinja filters, "
                "not Python attributes",
            ) from None
