"""Score predictions against gold: pair rows by id, then compute every metric.

Kind-aware: the predictions' task kind (``provenance.kind`` of the rows, else classification)
picks the ``Scoring`` on its ``Kind`` that reads gold and predicted values, judges each record
and names the corpus metrics. Pure: rows (``core.row.Row``) in, one frozen ``EvalSummary`` out.

Pairing is strict by default, because a prediction file that covers only part of the gold set
(or another set) gives numbers that look right and are not; ``allow_missing`` scores the ids in
both and says how many were left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.core import metrics, reliability
from llmlabel.core.kinds import DEFAULT_KIND, KINDS
from llmlabel.core.metrics import (
    ClassScore,
    ConfusionMatrix,
    Interval,
    Outcome,
    Status,
)
from llmlabel.core.reliability import Calibration, CoveragePoint, Selective
from llmlabel.core.row import Row
from llmlabel.core.runcost import RunCost
from llmlabel.core.scoring import Scoring, Unscorable
from llmlabel.core.wrong_records import WrongRecord
from llmlabel.errors import ConfigError, InputError, JoinError

EXAMPLES = 3
"""Ids quoted as examples when some are missing."""


@dataclass(frozen=True, slots=True)
class Prediction:
    id: str
    status: Status
    label: Any
    """The kind's value of the row's label (``None`` unless labeled)."""
    confidence: float


class Options(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    target_accuracy: float = Field(0.95, ge=0.0, le=1.0)
    bins: int = Field(10, ge=1)
    resamples: int = Field(1000, ge=1)
    seed: int = 0


class Pairing(BaseModel):
    """How predictions and gold paired up: nothing is left out without being counted here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    predictions: int
    gold: int
    scored: int
    gold_without_prediction: tuple[str, ...] = ()
    predictions_without_gold: tuple[str, ...] = ()


class EvalSummary(BaseModel):
    """Everything ``llmlabel eval`` reports; ``summary.json`` is this model dumped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = DEFAULT_KIND
    records: int
    labeled: int
    abstained: int
    failed: int
    skipped: int = 0
    """Bad records (``--on-error skip``) with gold: not labeled, so wrong, like failed ones."""
    correct: int
    accuracy: Interval
    """Records whose prediction is right as a whole (exact label, label set or span set)."""
    metrics: dict[str, Interval]
    """The kind's corpus metrics by name (``scoring(kind).metrics`` gives their titles)."""
    classes: tuple[ClassScore, ...]
    confusion: ConfusionMatrix | None
    """Single-label kinds only."""
    calibration: tuple[Calibration, ...]
    brier: float
    auroc: float | None
    coverage_curve: tuple[CoveragePoint, ...]
    selective: Selective
    pairing: Pairing
    options: Options
    cost: RunCost | None = None
    """From the predictions' manifest, when it lies beside them."""
    warnings: tuple[str, ...] = ()
    """Gold labels matched to a label up to case or whitespace, or unknown (``check_gold``)."""
    wrong: tuple[WrongRecord, ...] = ()
    """Wrong records with their text, the most frequent confusions first (``wrong_records``)."""


def scoring(kind: str) -> Scoring:
    """The scoring of a task kind, or a one-line error saying eval cannot score it."""
    known = KINDS.get(kind)
    if known is None or known.scoring is None:
        scorable = ", ".join(name for name, k in KINDS.items() if k.scoring is not None)
        raise ConfigError(
            f"llmlabel eval cannot score task kind '{kind}'", hint=f"it scores: {scorable}"
        )
    return known.scoring


def kind_of(rows: Iterable[Row]) -> str:
    """The task kind of an output file's rows: the first row's ``provenance.kind``."""
    return next((row.kind or DEFAULT_KIND for row in rows), DEFAULT_KIND)


def parse_predictions(
    rows: Iterable[tuple[str, Row]], kind: str = DEFAULT_KIND
) -> Iterator[Prediction]:
    """``parse_prediction`` for every (where, row) of an output file; a ``skipped`` row without
    an id (a line that could not be read) names no record and is left out."""
    for where, row in rows:
        if row.status == "skipped" and row.id is None:
            continue
        yield parse_prediction(row, where, kind)


def parse_prediction(row: Row, where: str, kind: str = DEFAULT_KIND) -> Prediction:
    """One output row of a ``kind`` task (``Row`` checked its fields; this its kind). Abstained
    and failed rows get confidence 0: they are wrong."""
    rid = str(row.id).strip()
    if row.id is None or not rid:
        raise InputError("a prediction row has no id", where=where, hint="every row needs an 'id'")
    found = row.kind or DEFAULT_KIND
    if found != kind and "provenance" in row.model_fields_set:
        raise InputError(
            f"prediction '{rid}' is from a {found} task, not {kind}",
            where=where,
            hint="score one run's output at a time",
        )
    if row.status != "labeled":
        return Prediction(id=rid, status=row.status, label=None, confidence=0.0)
    if "confidence" not in row.model_fields_set:
        raise InputError(f"labeled prediction '{rid}' has no confidence", where=where)
    try:
        label = scoring(kind).predicted(row.label)
    except Unscorable as exc:
        raise InputError(
            f"labeled prediction '{rid}' {exc.problem}", where=where, hint=exc.hint
        ) from None
    return Prediction(id=rid, status="labeled", label=label, confidence=row.confidence)


def gold_label(
    record_id: str, data: Mapping[str, Any], where: str, kind: str = DEFAULT_KIND
) -> Any:
    """The gold value of one gold record of a ``kind`` task."""
    try:
        return scoring(kind).gold(data)
    except Unscorable as exc:
        raise InputError(
            f"gold record '{record_id}' {exc.problem}", where=where, hint=exc.hint
        ) from None


def pair(
    predictions: Iterable[Prediction],
    gold: Iterable[tuple[str, Any]],
    *,
    allow_missing: bool = False,
    names: tuple[str, str] = ("predictions", "gold"),
    kind: str = DEFAULT_KIND,
) -> tuple[list[Outcome], Pairing]:
    """Pair predictions with gold ``(id, value)`` by id, in gold order; the kind judges each.

    Every gold id needs a prediction and every prediction a gold id, else ``JoinError`` (with
    counts and example ids); ``allow_missing`` scores the ids in both and records what was left.
    """
    by_id = _unique(((p.id, p) for p in predictions), names[0])
    labels = _unique(gold, names[1])
    correct = scoring(kind).correct
    outcomes = [
        Outcome(
            id=i,
            gold=g,
            predicted=p.label,
            confidence=p.confidence,
            status=p.status,
            match=None if p.label is None else correct(g, p.label),
        )
        for i, g in labels.items()
        if (p := by_id.get(i)) is not None
    ]
    pairing = Pairing(
        predictions=len(by_id),
        gold=len(labels),
        scored=len(outcomes),
        gold_without_prediction=tuple(i for i in labels if i not in by_id),
        predictions_without_gold=tuple(i for i in by_id if i not in labels),
    )
    missing = pairing.gold_without_prediction or pairing.predictions_without_gold
    if not outcomes or (missing and not allow_missing):
        raise _join_error(pairing, names)
    return outcomes, pairing


def check_gold(
    outcomes: Sequence[Outcome], labels: Iterable[str], kind: str = DEFAULT_KIND
) -> tuple[list[Outcome], tuple[str, ...]]:
    """Single-label kinds: a gold label that is no known label (the task's ``labels``, or one a
    prediction has) but matches exactly one up to case and surrounding whitespace is scored as
    that label, as model answers are; both that and gold labels still unknown are reported, so a
    gold file spelled ``Positive`` never scores 0.000 silently."""
    scored = scoring(kind)
    if not scored.confusion:
        return list(outcomes), ()
    known = set(labels) | {o.predicted for o in outcomes if isinstance(o.predicted, str)}
    folded: dict[str, list[str]] = {}
    for label in sorted(known):
        folded.setdefault(label.strip().casefold(), []).append(label)
    checked, mapped, unknown = [], Counter[tuple[str, str]](), Counter[str]()
    for o in outcomes:
        if not isinstance(o.gold, str) or o.gold in known:
            checked.append(o)
            continue
        matches = folded.get(o.gold.strip().casefold(), [])
        if len(matches) != 1:
            unknown[o.gold] += 1
            checked.append(o)
            continue
        mapped[(o.gold, matches[0])] += 1
        match = None if o.predicted is None else scored.correct(matches[0], o.predicted)
        checked.append(replace(o, gold=matches[0], match=match))
    warnings = []
    if mapped:
        shown = ", ".join(f"{g!r} → {label!r}" for g, label in list(mapped)[:EXAMPLES])
        warnings.append(
            f"{mapped.total()} gold label(s) differ from the task's labels only in case or "
            f"surrounding whitespace and were scored as those labels (e.g. {shown})"
        )
    if unknown:
        warnings.append(
            f"{unknown.total()} gold label(s) are none of the task's labels "
            f"({_examples(list(unknown))}): those records cannot be scored right"
        )
    return checked, tuple(warnings)


def evaluate(
    outcomes: Sequence[Outcome],
    pairing: Pairing,
    options: Options | None = None,
    kind: str = DEFAULT_KIND,
) -> EvalSummary:
    options = options or Options()
    scored = scoring(kind)
    intervals = metrics.bootstrap(
        outcomes,
        {"accuracy": metrics.accuracy, **{m.name: m.compute for m in scored.metrics}},
        resamples=options.resamples,
        seed=options.seed,
    )
    accuracy = intervals.pop("accuracy")
    curve = reliability.coverage_curve(outcomes)
    statuses = [o.status for o in outcomes]
    return EvalSummary(
        kind=kind,
        records=len(outcomes),
        labeled=statuses.count("labeled"),
        abstained=statuses.count("abstained"),
        failed=statuses.count("failed"),
        skipped=statuses.count("skipped"),
        correct=sum(o.correct for o in outcomes),
        accuracy=accuracy,
        metrics=intervals,
        classes=tuple(scored.per_class(outcomes)),
        confusion=metrics.confusion_matrix(outcomes) if scored.confusion else None,
        calibration=tuple(
            reliability.ece(outcomes, options.bins, binning)
            for binning in ("equal_width", "equal_mass")
        ),
        brier=reliability.brier(outcomes),
        auroc=reliability.auroc(outcomes),
        coverage_curve=curve,
        selective=reliability.selective(curve, options.target_accuracy),
        pairing=pairing,
        options=options,
    )


def _unique(pairs: Iterable[tuple[str, Any]], name: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise JoinError(
                f"id '{key}' appears twice in {name}",
                hint="ids must be unique to pair predictions with gold",
            )
        seen[key] = value
    return seen


def _join_error(pairing: Pairing, names: tuple[str, str]) -> JoinError:
    pred_name, gold_name = names
    if not pairing.predictions:
        return JoinError(
            f"{pred_name} has no prediction rows",
            hint="pass the output file of `llmlabel run`",
            missing_predictions=pairing.gold,
        )
    if not pairing.scored:
        return JoinError(
            f"no id is in both {pred_name} ({pairing.predictions} rows) and {gold_name} "
            f"({pairing.gold} rows)",
            hint="check that the predictions were made for this gold set, with the same ids",
            missing_predictions=len(pairing.gold_without_prediction),
            missing_gold=len(pairing.predictions_without_gold),
        )
    parts = []
    if pairing.gold_without_prediction:
        parts.append(
            f"{len(pairing.gold_without_prediction)} of {pairing.gold} gold ids have no "
            f"prediction ({_examples(pairing.gold_without_prediction)})"
        )
    if pairing.predictions_without_gold:
        parts.append(
            f"{len(pairing.predictions_without_gold)} of {pairing.predictions} predictions "
            f"have no gold label ({_examples(pairing.predictions_without_gold)})"
        )
    return JoinError(
        f"{pred_name} and {gold_name} do not pair up by id: " + "; ".join(parts),
        hint="label the gold file itself (same ids), or pass --allow-missing to score only "
        "the ids in both (the counts left out are reported)",
        missing_predictions=len(pairing.gold_without_prediction),
        missing_gold=len(pairing.predictions_without_gold),
    )


def _examples(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:EXAMPLES])
    return f"e.g. {shown}" + (", …" if len(ids) > EXAMPLES else "")
