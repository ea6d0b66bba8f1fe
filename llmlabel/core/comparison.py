"""Compare variants of a task (prompts, models, shots, samples) on the same gold records. Pure.

Each variant's output rows are scored like ``llmlabel eval`` scores a file (the same pairing,
``EvalSummary`` and kind-aware metrics). Then every pair of variants (A listed before B) is
tested on the records they share, which are all of them: the records that flipped either way,
McNemar's exact test on those flips, and a paired bootstrap of B − A for accuracy and each of
the kind's metrics. Each test's p-values over all pairs form one family, Holm-adjusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from llmlabel.core import evaluation, metrics, significance
from llmlabel.core.evaluation import EvalSummary, Options
from llmlabel.core.metrics import Outcome, Statistic
from llmlabel.core.row import read_row
from llmlabel.core.significance import McNemar, PairedDelta


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Scored:
    """One variant scored against gold: its outcomes in gold order, and their summary."""

    name: str
    outcomes: list[Outcome]
    summary: EvalSummary


class Cost(_Value):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    """Wall time of labeling the variant, model load included (cached answers cost ~0)."""


class VariantResult(_Value):
    name: str
    overrides: dict[str, Any]
    """The task-file keys this variant sets, on top of the base task and the shared ones."""
    summary: EvalSummary
    cost: Cost = Cost()


class ClassDelta(_Value):
    label: str
    a: float
    b: float
    delta: float
    """F1 under B − F1 under A."""


class PairResult(_Value):
    """B against A on the same records; ``deltas`` are B − A."""

    a: str
    b: str
    mcnemar: McNemar
    deltas: tuple[PairedDelta, ...]
    classes: tuple[ClassDelta, ...]
    right_to_wrong: tuple[str, ...]
    """Ids right under A and wrong under B."""
    wrong_to_right: tuple[str, ...]
    """Ids wrong under A and right under B."""

    def delta(self, statistic: str) -> PairedDelta:
        return next(d for d in self.deltas if d.statistic == statistic)


class Comparison(_Value):
    """Everything ``llmlabel compare`` reports; its ``summary.json`` is this model dumped."""

    kind: str
    records: int
    variants: tuple[VariantResult, ...]
    pairs: tuple[PairResult, ...]
    statistics: tuple[str, ...]
    """accuracy, then the kind's metrics: what the paired bootstrap tested."""
    alpha: float
    correction: Literal["holm"] = "holm"
    options: Options

    def leaderboard(self) -> list[VariantResult]:
        """Variants by accuracy, best first (listing order among equals)."""
        return sorted(self.variants, key=lambda v: -v.summary.accuracy.value)

    def significant(self, p_adjusted: float | None) -> bool:
        return p_adjusted is not None and p_adjusted < self.alpha


def score(
    name: str,
    rows: Sequence[Mapping[str, Any]],
    gold: Sequence[tuple[str, Any]],
    kind: str,
    options: Options,
) -> Scored:
    """Pair a variant's output rows with the gold ``(id, value)`` pairs and summarise them."""
    wheres = (f"variant '{name}' row {n}" for n in range(1, len(rows) + 1))
    read = ((where, read_row(row, where)) for where, row in zip(wheres, rows, strict=True))
    predictions = evaluation.parse_predictions(read, kind)
    outcomes, pairing = evaluation.pair(
        predictions, gold, names=(f"variant '{name}'", "gold"), kind=kind
    )
    return Scored(name, outcomes, evaluation.evaluate(outcomes, pairing, options, kind))


def statistics(kind: str) -> dict[str, Statistic]:
    """What the paired bootstrap compares: accuracy and the kind's corpus metrics."""
    found: dict[str, Statistic] = {"accuracy": metrics.accuracy}
    found.update((m.name, m.compute) for m in evaluation.scoring(kind).metrics)
    return found


def compare(
    variants: Sequence[tuple[Scored, Mapping[str, Any], Cost]],
    kind: str,
    options: Options,
    alpha: float = 0.05,
) -> Comparison:
    """Test every pair of scored variants; ``variants`` are (scored, overrides, cost)."""
    tested = statistics(kind)
    pairs = [_pair(a, b, tested, options) for (a, _, _), (b, _, _) in combinations(variants, 2)]
    return Comparison(
        kind=kind,
        records=len(variants[0][0].outcomes) if variants else 0,
        variants=tuple(
            VariantResult(name=s.name, overrides=dict(o), summary=s.summary, cost=c)
            for s, o, c in variants
        ),
        pairs=tuple(_adjust(pairs, tuple(tested))),
        statistics=tuple(tested),
        alpha=alpha,
        options=options,
    )


def _pair(a: Scored, b: Scored, tested: Mapping[str, Statistic], options: Options) -> PairResult:
    right_to_wrong, wrong_to_right = significance.discordant(a.outcomes, b.outcomes)
    deltas = significance.paired_bootstrap(
        a.outcomes, b.outcomes, tested, resamples=options.resamples, seed=options.seed
    )
    return PairResult(
        a=a.name,
        b=b.name,
        mcnemar=significance.mcnemar_exact(len(right_to_wrong), len(wrong_to_right)),
        deltas=tuple(deltas.values()),
        classes=_class_deltas(a.summary, b.summary),
        right_to_wrong=tuple(right_to_wrong),
        wrong_to_right=tuple(wrong_to_right),
    )


def _class_deltas(a: EvalSummary, b: EvalSummary) -> tuple[ClassDelta, ...]:
    f1_a = {c.label: c.f1 for c in a.classes}
    f1_b = {c.label: c.f1 for c in b.classes}
    labels = sorted(f1_a.keys() | f1_b.keys())
    return tuple(
        ClassDelta(
            label=label,
            a=f1_a.get(label, 0.0),
            b=f1_b.get(label, 0.0),
            delta=f1_b.get(label, 0.0) - f1_a.get(label, 0.0),
        )
        for label in labels
    )


def _adjust(pairs: Sequence[PairResult], tested: Sequence[str]) -> list[PairResult]:
    """Holm-adjust each test's family of p-values (one per pair)."""
    mcnemar = significance.holm([p.mcnemar.p_value for p in pairs])
    by_statistic = {
        name: significance.holm([p.delta(name).p_value for p in pairs]) for name in tested
    }
    return [
        pair.model_copy(
            update={
                "mcnemar": pair.mcnemar.model_copy(update={"p_adjusted": mcnemar[i]}),
                "deltas": tuple(
                    d.model_copy(update={"p_adjusted": by_statistic[d.statistic][i]})
                    for d in pair.deltas
                ),
            }
        )
        for i, pair in enumerate(pairs)
    ]
