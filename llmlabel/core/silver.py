"""Choose which predictions become a silver training set. Pure, seeded and deterministic.

The steps run in a fixed order, and each one reports how many records it removed so the
dataset card can say where the rest went:

1. drop unlabeled rows (``abstained``/``failed``): they never become training labels;
2. drop rows below ``min_confidence``;
3. cap each class at ``per_class_max`` and/or ``balance`` (every class cut to the smallest);
4. split train/validation, stratified by label.

NER candidates (``label`` a tuple of spans) have no class: ``llmlabel export``
(``commands.export``) refuses quotas for them, and their split is stratified by whether a
record has any entity.

Downsampling and splitting are random but seeded: candidates are ordered by id before a
per-class generator seeded with ``(seed, label)`` shuffles them, so the result depends on the
seed and the set of candidates, never on the order of the input or on ``PYTHONHASHSEED``.
Kept candidates stay in the order they were given.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.core.silverspans import Entities

LABELED = "labeled"
TRAIN, VALIDATION = "train", "validation"


@dataclass(frozen=True)
class Candidate:
    """What selection needs from one prediction row."""

    id: str
    status: str
    label: str | Entities | None
    """A class, or an NER answer: its entities in text order."""
    confidence: float

    @property
    def labeled(self) -> bool:
        return self.status == LABELED and self.label is not None

    @property
    def stratum(self) -> str | None:
        """What quotas and the split group by: the class (NER: whether the record has
        entities); ``None`` for unlabeled rows."""
        if not self.labeled or self.label is None:
            return None
        if isinstance(self.label, str):
            return self.label
        return "entities" if self.label else "no entities"


class SilverOptions(BaseModel):
    """Filters and split for a silver set; the defaults keep every labeled row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_confidence: float | None = Field(None, ge=0.0, le=1.0)
    drop_abstained: bool = True
    per_class_max: int | None = Field(None, ge=1)
    balance: bool = False
    split: float | None = Field(None, gt=0.0, lt=1.0)
    seed: int = 0


@dataclass(frozen=True)
class Step:
    """One filter step: its description and how many records it removed."""

    name: str
    removed: int


@dataclass(frozen=True)
class Selection:
    """The result: kept candidates per split (``train`` only without a split) and the steps."""

    total: int
    steps: tuple[Step, ...]
    splits: dict[str, tuple[Candidate, ...]]

    @property
    def kept(self) -> tuple[Candidate, ...]:
        return tuple(c for part in self.splits.values() for c in part)

    def split_of(self) -> dict[str, str]:
        """Candidate id → split name."""
        return {c.id: name for name, part in self.splits.items() for c in part}


def select(candidates: Sequence[Candidate], options: SilverOptions) -> Selection:
    """Apply the steps of the module docstring in order."""
    kept = list(candidates)
    steps: list[Step] = []

    def apply(name: str, result: list[Candidate]) -> None:
        nonlocal kept
        steps.append(Step(name, len(kept) - len(result)))
        kept = result

    if options.drop_abstained:
        apply("abstained or failed", [c for c in kept if c.labeled])
    if options.min_confidence is not None:
        threshold = options.min_confidence
        apply(f"confidence < {threshold:g}", above(kept, threshold))
    if options.per_class_max is not None:
        cap = options.per_class_max
        apply(f"over {cap} per class", cap_per_class(kept, cap, options.seed))
    if options.balance:
        apply("class balance", balance(kept, options.seed))
    if options.split is None:
        splits = {TRAIN: tuple(kept)}
    else:
        train, validation = stratified_split(kept, options.split, options.seed)
        splits = {TRAIN: tuple(train), VALIDATION: tuple(validation)}
    return Selection(total=len(candidates), steps=tuple(steps), splits=splits)


def above(candidates: Iterable[Candidate], threshold: float) -> list[Candidate]:
    """Candidates whose confidence is at least ``threshold``."""
    return [c for c in candidates if c.confidence >= threshold]


def cap_per_class(candidates: Sequence[Candidate], cap: int, seed: int) -> list[Candidate]:
    """At most ``cap`` labeled candidates per class, chosen at random (seeded).

    Random rather than most-confident, so the cap does not skew a class towards its easiest
    examples; use ``min_confidence`` for that. Unlabeled candidates are not a class and stay.
    """
    chosen: set[str] = set()
    for label, members in _by_label(candidates).items():
        if label is None:
            chosen.update(c.id for c in members)
        else:
            chosen.update(c.id for c in _shuffled(members, seed, label)[:cap])
    return [c for c in candidates if c.id in chosen]


def balance(candidates: Sequence[Candidate], seed: int) -> list[Candidate]:
    """Every labeled class cut to the size of the smallest one (seeded random choice)."""
    sizes = [len(m) for label, m in _by_label(candidates).items() if label is not None]
    if not sizes:
        return list(candidates)
    return cap_per_class(candidates, min(sizes), seed)


def stratified_split(
    candidates: Sequence[Candidate], fraction: float, seed: int
) -> tuple[list[Candidate], list[Candidate]]:
    """(train, validation) with ``round(fraction * n)`` records in validation.

    Each class (unlabeled rows count as one) puts the floor or the ceiling of its exact share
    into validation, so class ratios hold within one record; the leftover records go to the
    classes with the largest remainders (ties by label order), keeping the total exact.
    """
    groups = _by_label(candidates)
    quotas = _allocate({k: len(v) for k, v in groups.items()}, fraction, len(candidates))
    validation: set[str] = set()
    for label, members in groups.items():
        validation.update(c.id for c in _shuffled(members, seed, label)[: quotas[label]])
    train = [c for c in candidates if c.id not in validation]
    return train, [c for c in candidates if c.id in validation]


def _allocate(
    sizes: Mapping[str | None, int], fraction: float, total: int
) -> dict[str | None, int]:
    target = math.floor(fraction * total + 0.5)
    exact = {label: size * fraction for label, size in sizes.items()}
    quotas = {label: math.floor(share) for label, share in exact.items()}
    by_remainder = sorted(exact, key=lambda k: (-(exact[k] - quotas[k]), _label_key(k)))
    for label in by_remainder[: max(0, target - sum(quotas.values()))]:
        quotas[label] += 1
    return quotas


def _by_label(candidates: Iterable[Candidate]) -> dict[str | None, list[Candidate]]:
    groups: dict[str | None, list[Candidate]] = {}
    for c in candidates:
        groups.setdefault(c.stratum, []).append(c)
    return dict(sorted(groups.items(), key=lambda kv: _label_key(kv[0])))


def _label_key(label: str | None) -> tuple[bool, str]:
    return (label is None, label or "")


def _shuffled(members: Iterable[Candidate], seed: int, label: str | None) -> list[Candidate]:
    ordered = sorted(members, key=lambda c: c.id)
    # A str seed is hashed with sha512 by random, so it is stable across processes.
    random.Random(f"{seed}:{label}").shuffle(ordered)
    return ordered


def histogram(values: Iterable[float], bins: int = 10) -> list[int]:
    """Counts of ``values`` in ``bins`` equal bins over [0, 1]; 1.0 falls in the last bin."""
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, max(0, math.floor(value * bins)))] += 1
    return counts


def silver_row(
    record_id: str,
    data: Mapping[str, Any],
    id_field: str,
    answer: Mapping[str, Any],
    confidence: float,
) -> dict[str, Any]:
    """One exported record: ``id``, the input fields, the ``answer`` columns (``label``; NER:
    ``entities``, ``ner_tags``, and ``tokens`` when the input has none), ``confidence``.

    The input's own id column is dropped when it is ``id`` (it is the same value); other input
    fields named like an export column are renamed ``input_<name>`` rather than overwritten,
    so a gold ``label`` column in the input survives beside the silver one.
    """
    reserved = {"id", "confidence", *answer}
    row: dict[str, Any] = {"id": record_id}
    for key, value in data.items():
        if key == "id" and id_field == "id":
            continue
        row[f"input_{key}" if key in reserved else key] = value
    row.update(answer)
    row["confidence"] = confidence
    return row
