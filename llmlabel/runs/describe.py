"""``describe_labels: true``: the model writes a one-line description for each bare label.

A task written in a minute has label names and no descriptions. Before the first record, one
constrained request (temperature 0, the task's seed, cached like any request) asks the model
for a line per label that has none: which texts get it, so that the labels can be told apart.
The request shows the first ``RECORDS`` input records (unlabeled; each cut to
``RECORD_CHARS``), so the lines fit the texts at hand; the same input gives the same request,
so a resumed run gets the same lines from the cache. The task is then prepared again with those
lines, exactly as if the task file had them; the runner records them in the manifest's totals
(``label_descriptions``). Labels that have a description keep it.

``llmlabel tune`` asks for guidance here too: ``instruction_request`` has the model rewrite a
task's instructions from records the current prompt labels wrongly.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from llmlabel.core.request import Completion, LabelRequest, Message
from llmlabel.core.settings import LabelDef
from llmlabel.select.semantic import text_of
from llmlabel.task import PreparedTask, load

MAX_CHARS = 200
"""The most characters of one generated description."""
TOKENS_PER_LABEL = 60
RECORDS = 8
"""How many of the first input records the request shows."""
RECORD_CHARS = 300

SYSTEM = "You write short, precise labeling guidelines for annotators."


def request(task: PreparedTask, texts: Sequence[str] = ()) -> LabelRequest | None:
    """The request for the labels without a description (None: every label has one), showing
    ``texts`` (some of the records to label)."""
    spec = task.spec
    missing = [label.name for label in spec.labels if not label.description]
    if not missing:
        return None
    about = spec.description or spec.name
    if spec.instructions:
        about += "\n" + spec.instructions.strip()
    shown = "".join(
        "\n- " + " ".join(text.split())[:RECORD_CHARS] for text in texts if text.strip()
    )
    user = (
        f"Task: {about}\n\nLabels: {', '.join(missing)}\n\n"
        + (
            f"Some unlabeled texts of this task, only to show what the texts are like:{shown}\n\n"
            if shown
            else ""
        )
        + "For each label, write one line (at most 20 words) saying which texts get that label, "
        "so that an annotator can tell the labels apart: a rule in your own words, not an "
        "example and not a quote. Answer with a JSON object mapping each label to its line."
    )
    # A small model asked for a line per label tends to write an example text (or copy one
    # shown) instead of a rule; a line that must start "Texts " is a rule.
    line = {"type": "string", "minLength": 3, "maxLength": MAX_CHARS, "pattern": "^Texts .+$"}
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
    task: PreparedTask,
    complete: Callable[[LabelRequest], Awaitable[Completion]],
    records: Sequence[Mapping[str, Any]] = (),
) -> tuple[PreparedTask, dict[str, str]]:
    """``task`` with a description for every label the model could describe, and those
    descriptions (empty when there was nothing to ask, or the answer was unusable).
    ``records``: the data of the first input records, of which the task's fields are shown."""
    texts = [text_of(data, task.spec.fields) for data in records[:RECORDS]]
    asked = request(task, texts)
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
    return load(spec, base_dir=task.base_dir), written


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


def instruction_request(
    spec: Mapping[str, Any], wrong: Sequence[tuple[str, Any, Any]]
) -> LabelRequest:
    """Ask for better instructions: the task, its labels, and records the incumbent got wrong."""
    labels = ", ".join(
        f"{d['name']} ({d['description']})" if d.get("description") else d["name"]
        for d in spec.get("labels", [])
    )
    shown = "\n".join(
        f"- text: {text[:300]!r}; correct: {gold}; answered: {predicted}"
        for text, gold, predicted in wrong
    )
    user = (
        f"Task: {spec.get('description') or spec['name']}\nLabels: {labels}\n"
        f"Current instructions: {spec.get('instructions') or '(none)'}\n\n"
        + (f"Records labeled wrongly with them:\n{shown}\n\n" if shown else "")
        + "Write better instructions for annotators (at most 4 sentences): what tells the labels "
        "apart, and how to decide the hard cases above. Answer with a JSON object "
        '{"instructions": "..."}.'
    )
    return LabelRequest(
        messages=(
            Message(role="system", content="You write precise labeling guidelines."),
            Message(role="user", content=user),
        ),
        json_schema={
            "type": "object",
            "properties": {"instructions": {"type": "string", "minLength": 10, "maxLength": 600}},
            "required": ["instructions"],
            "additionalProperties": False,
        },
        schema_name="Instructions",
        temperature=0.7,
        max_tokens=200,
    )


def parse_instructions(text: str) -> str | None:
    """The ``instructions`` of the model's JSON answer, whitespace collapsed (None if unusable)."""
    try:
        found = json.loads(text[text.find("{") :] if "{" in text else text)
    except ValueError:
        return None
    value = found.get("instructions") if isinstance(found, dict) else None
    return " ".join(value.split()) if isinstance(value, str) and value.strip() else None
