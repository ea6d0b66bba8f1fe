"""Score classification predictions against gold: pair rows by id, then compute every metric.

Pure: rows (dicts) in, one frozen ``EvalSummary`` out. Pairing is strict by default, because a
prediction file that covers only part of the gold set (or another set) gives numbers that look
right and are not; ``allow_missing`` scores the ids in both and says how many were left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast, get_args

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.core import metrics, reliability
from llmlabel.core.metrics import ClassScore, ConfusionMatrix, Interval, Outcome, Status
from llmlabel.core.reliability import Calibration, CoveragePoint, Selective
from llmlabel.errors import InputError, JoinError

EXAMPLES = 3
"""Ids quoted as examples when some are missing."""


@dataclass(frozen=True, slots=True)
class Prediction:
    id: str
    status: Status
    label: str | None
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

    records: int
    labeled: int
    abstained: int
    failed: int
    correct: int
    accuracy: Interval
    macro_f1: Interval
    micro_f1: float
    classes: tuple[ClassScore, ...]
    confusion: ConfusionMatrix
    calibration: tuple[Calibration, ...]
    brier: float
    auroc: float | None
    coverage_curve: tuple[CoveragePoint, ...]
    selective: Selective
    pairing: Pairing
    options: Options


def parse_prediction(row: Mapping[str, Any], where: str) -> Prediction:
    """One llmlabel output row. Abstained and failed rows get confidence 0: they are wrong."""
    rid = _id(row, where, "prediction")
    status = row.get("status")
    if status not in get_args(Status):
        raise InputError(
            f"prediction '{rid}' has status {status!r}, not labeled, abstained or failed",
            where=where,
            hint="pass a file written by `llmlabel run`",
        )
    if status != "labeled":
        return Prediction(id=rid, status=cast(Status, status), label=None, confidence=0.0)
    label, confidence = row.get("label"), row.get("confidence")
    if not isinstance(label, str):
        raise InputError(
            f"labeled prediction '{rid}' has no single label (got {type(label).__name__})",
            where=where,
            hint="eval scores single-label classification: one string `label` per row",
        )
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        raise InputError(f"labeled prediction '{rid}' has no numeric confidence", where=where)
    if not 0.0 <= confidence <= 1.0:
        raise InputError(
            f"prediction '{rid}' has confidence {confidence}, outside [0, 1]", where=where
        )
    return Prediction(id=rid, status="labeled", label=label, confidence=float(confidence))


def gold_label(record_id: str, data: Mapping[str, Any], where: str) -> str:
    """The ``label`` of one gold record (classification)."""
    label = data.get("label")
    if isinstance(label, bool) or not isinstance(label, (str, int)):
        hint = 'gold rows look like {"id": ..., "label": ...}'
        if "labels" in data:
            hint = "this looks like multi-label gold; eval scores single-label classification"
        raise InputError(f"gold record '{record_id}' has no label", where=where, hint=hint)
    return str(label)


def pair(
    predictions: Iterable[Prediction],
    gold: Iterable[tuple[str, str]],
    *,
    allow_missing: bool = False,
    names: tuple[str, str] = ("predictions", "gold"),
) -> tuple[list[Outcome], Pairing]:
    """Pair predictions with gold ``(id, label)`` by id, in gold order.

    Every gold id needs a prediction and every prediction a gold id, else ``JoinError`` (with
    counts and example ids); ``allow_missing`` scores the ids in both and records what was left.
    """
    by_id = _unique(((p.id, p) for p in predictions), names[0])
    labels = _unique(gold, names[1])
    outcomes = [
        Outcome(id=i, gold=g, predicted=p.label, confidence=p.confidence, status=p.status)
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


def evaluate(
    outcomes: Sequence[Outcome], pairing: Pairing, options: Options | None = None
) -> EvalSummary:
    options = options or Options()
    intervals = metrics.bootstrap(
        outcomes,
        {"accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1},
        resamples=options.resamples,
        seed=options.seed,
    )
    curve = reliability.coverage_curve(outcomes)
    statuses = [o.status for o in outcomes]
    return EvalSummary(
        records=len(outcomes),
        labeled=statuses.count("labeled"),
        abstained=statuses.count("abstained"),
        failed=statuses.count("failed"),
        correct=sum(o.correct for o in outcomes),
        accuracy=intervals["accuracy"],
        macro_f1=intervals["macro_f1"],
        micro_f1=metrics.micro_f1(outcomes),
        classes=tuple(metrics.per_class(outcomes)),
        confusion=metrics.confusion_matrix(outcomes),
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


def _id(row: Mapping[str, Any], where: str, what: str) -> str:
    value = row.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise InputError(f"a {what} row has no id", where=where, hint="every row needs an 'id'")
    return str(value).strip()


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
