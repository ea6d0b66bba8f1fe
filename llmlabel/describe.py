"""``describe_labels: true``: the model writes a one-line description for each bare label.

A task written in a minute has label names and no descriptions. Before the first record, one
constrained request (temperature 0, the task's seed, cached like any request) asks the model
for a line per label that has none: which texts get it, so that the labels can be told apart.
The task is then prepared again with those lines, exactly as if the task file had them; the
runner records them in the manifest's totals (``label_descriptions``). Labels that have a
description keep it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from llmlabel.core.request import Completion, LabelRequest, Message
from llmlabel.core.spec import LabelDef
from llmlabel.task import PreparedTask, prepare

MAX_CHARS = 200
"""The most characters of one generated description."""
TOKENS_PER_LABEL = 60

SYSTEM = "You write short, precise labeling guidelines for annotators."


def request(task: PreparedTask) -> LabelRequest | None:
    """The request for the labels without a description (None: every label has one)."""
    spec = task.spec
    missing = [label.name for label in spec.labels if not label.description]
    if not missing:
        return None
    about = spec.description or spec.name
    if spec.instructions:
        about += "\n" + spec.instructions.strip()
    user = (
        f"Task: {about}\n\nLabels: {', '.join(missing)}\n\nFor each label, write one line (at "
        "most 20 words) saying which texts get that label, so that an annotator can tell the "
        "labels apart. Answer with a JSON object mapping each label to its line."
    )
    line = {"type": "string", "minLength": 3, "maxLength": MAX_CHARS}
    schema = {
        "type": "object",
        "properties": dict.fromkeys(missing, line),
        "required": missing,
        "additionalProperties": False,
    }
    return LabelRequest(
        messages=(Message(role="system", content=SYSTEM), Message(role="user", content=user)),
        json_schema=schema,
        schema_name="LabelDescriptions",
        temperature=0.0,
        seed=spec.seed,
        max_tokens=TOKENS_PER_LABEL * len(missing) + 20,
    )


async def described(
    task: PreparedTask, complete: Callable[[LabelRequest], Awaitable[Completion]]
) -> tuple[PreparedTask, dict[str, str]]:
    """``task`` with a description for every label the model could describe, and those
    descriptions (empty when there was nothing to ask, or the answer was unusable)."""
    asked = request(task)
    if asked is None:
        return task, {}
    completion = await complete(asked)
    written = parse(completion.samples[0].text, asked.json_schema["required"])
    if not written:
        return task, {}
    labels = [
        LabelDef(name=label.name, description=label.description or written.get(label.name))
        for label in task.spec.labels
    ]
    spec = task.spec.model_copy(update={"labels": labels})
    return prepare(spec, task.base_dir), written


def parse(text: str, names: list[str]) -> dict[str, str]:
    """The answer's lines for ``names``, whitespace collapsed and cut to ``MAX_CHARS``."""
    try:
        found = json.loads(text[text.find("{") :] if "{" in text else text)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    lines = {name: " ".join(str(found.get(name, "")).split())[:MAX_CHARS] for name in names}
    return {name: line for name, line in lines.items() if line}
