"""The dataset card (README.md) of an exported silver set. Pure text, no I/O.

A silver set is only as trustworthy as what made it, so the card carries the provenance of
every label (task, template and hash, model, sampling settings), what each filter removed, the
label distribution (NER: entity-type distribution) and a confidence histogram: enough to
judge the set without the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmlabel.core.kinds import KINDS
from llmlabel.core.kinds.base import Export, Table
from llmlabel.core.silver import Selection, histogram

MARKER = "<!-- written by llmlabel export -->"
"""Marks a folder as an llmlabel export, which ``--overwrite`` may replace."""

BINS = 10
BAR = 30
PROVENANCE_KEYS = (
    "task",
    "template",
    "template_hash",
    "backend",
    "model",
    "model_id",
    "samples",
    "temperature",
    "seed",
)


@dataclass(frozen=True)
class CardFacts:
    """Everything the card shows; ``labeled_confidences`` are all labeled predictions'."""

    title: str
    format: str
    files: Sequence[str]
    selection: Selection
    provenance: Mapping[str, int]
    """Distinct provenance (as canonical JSON) → number of prediction rows carrying it."""
    labeled_confidences: Sequence[float]
    split: float | None = None
    seed: int = 0
    notes: Sequence[str] = field(default_factory=tuple)
    kind: str = "classification"
    """The predictions' task kind: its ``Export`` gives the card's category and distribution
    (NER: entity types instead of labels)."""


def render_card(facts: CardFacts) -> str:
    """The whole card as Markdown, with Hub-style YAML front matter."""
    sections = [
        _header(facts),
        _provenance(facts.provenance),
        _filters(facts),
        _table(_export(facts.kind).table(facts.selection)),
        _histogram(facts),
        _usage(facts.format, facts.files),
    ]
    if facts.notes:
        sections.append("## Notes\n\n" + "\n".join(f"- {n}" for n in facts.notes))
    return "\n\n".join(sections) + "\n"


def provenance_key(provenance: Mapping[str, Any]) -> str:
    """Canonical JSON of the provenance fields the card shows, for counting distinct runs."""
    return json.dumps({k: provenance.get(k) for k in PROVENANCE_KEYS}, sort_keys=True)


def provenance_field(key: str, name: str) -> Any:
    """One field of a ``provenance_key``."""
    return json.loads(key).get(name)


def _header(facts: CardFacts) -> str:
    files = f" ({', '.join(f'`{f}`' for f in facts.files)})" if facts.files else ""
    return (
        f"---\ntags: [llmlabel, silver-labels]\ntask_categories: [{_export(facts.kind).category}]\n"
        "---\n"
        f"{MARKER}\n\n# {facts.title}: silver labels\n\n"
        "Labels predicted by a language model with llmlabel, not given by people: treat them as "
        "silver (noisy) labels.\n"
        f"Format: {facts.format}{files}. Records: {len(facts.selection.kept)} of "
        f"{facts.selection.total} predictions."
    )


def _provenance(provenance: Mapping[str, int]) -> str:
    head = ["rows", *PROVENANCE_KEYS]
    lines = [_row(head), _row(["---:", *["---"] * len(PROVENANCE_KEYS)])]
    for key, count in sorted(provenance.items(), key=lambda kv: -kv[1]):
        values = json.loads(key)
        lines.append(_row([str(count), *(_cell(values[k]) for k in PROVENANCE_KEYS)]))
    return "## Provenance\n\n" + "\n".join(lines)


def _filters(facts: CardFacts) -> str:
    selection = facts.selection
    left = selection.total
    lines = [_row(["step", "removed", "left"]), _row(["---", "---:", "---:"])]
    lines.append(_row(["predictions read", "", str(left)]))
    for step in selection.steps:
        left -= step.removed
        lines.append(_row([step.name, str(step.removed), str(left)]))
    if facts.split is not None:
        sizes = " / ".join(f"{n} {len(p)}" for n, p in selection.splits.items())
        lines.append(_row([f"split {facts.split:g} (seed {facts.seed})", "0", sizes]))
    return "## Filters\n\n" + "\n".join(lines)


def _export(kind: str) -> Export:
    export = KINDS[kind].export
    if export is None:
        raise ValueError(f"{kind} predictions make no silver set")
    return export


def _table(table: Table) -> str:
    lines = [_row(table.head), _row(["---", *["---:"] * (len(table.head) - 1)])]
    lines += [_row(cells) for cells in table.rows]
    text = f"## {table.title}\n\n" + "\n".join(lines)
    return text + "\n\n" + table.footer if table.footer else text


def _histogram(facts: CardFacts) -> str:
    before = histogram(facts.labeled_confidences, BINS)
    after = histogram((c.confidence for c in facts.selection.kept), BINS)
    scale = max(after) or 1
    lines = [f"{'confidence':<12} {'labeled':>8} {'exported':>9}"]
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        close = "]" if i == BINS - 1 else ")"
        edge = f"[{i / BINS:.1f}, {(i + 1) / BINS:.1f}{close}"
        lines.append(f"{edge:<12} {b:>8} {a:>9}  {'█' * round(BAR * a / scale)}".rstrip())
    return (
        "## Confidence histogram\n\n"
        "`labeled`: every labeled prediction; `exported`: the records in this set.\n\n"
        "```text\n" + "\n".join(lines) + "\n```"
    )


def _usage(fmt: str, files: Sequence[str]) -> str:
    if fmt == "hf":
        code = (
            "from datasets import load_from_disk\n\n"
            'dataset = load_from_disk("PATH")  # this folder\n'
            '# With internet and `huggingface-cli login`: dataset.push_to_hub("you/name")'
        )
    elif fmt == "sft":
        code = (
            '# Chat-format JSONL ({"messages": [...]}) for TRL\'s SFTTrainer, axolotl and other\n'
            "# fine-tuning tools; the assistant turn is the label in the task's answer format.\n"
            "from datasets import load_dataset\n\n"
            f'dataset = load_dataset("json", data_files={_data_files(files)})'
        )
    else:
        builder = {"parquet": "parquet", "jsonl": "json", "csv": "csv"}[fmt]
        code = (
            "from datasets import load_dataset\n\n"
            f'dataset = load_dataset("{builder}", data_files={_data_files(files)})'
        )
    return "## Use it\n\n```python\n" + code + "\n```"


def _data_files(files: Iterable[str]) -> str:
    names = list(files)
    if len(names) == 1:
        return json.dumps(names[0])
    return "{" + ", ".join(f'"{n.split(".")[0]}": "{n}"' for n in names) + "}"


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|")
