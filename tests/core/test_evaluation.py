"""Pairing predictions with gold by id, and the summary built from them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from llmlabel.core.evaluation import (
    Options,
    Prediction,
    evaluate,
    gold_label,
    pair,
    parse_prediction,
)
from llmlabel.core.row import read_row
from llmlabel.errors import InputError, JoinError


def row(rid: str, label: str | None, confidence: float = 1.0, **extra: Any) -> dict[str, Any]:
    status = "labeled" if label is not None else "abstained"
    return {"id": rid, "status": status, "label": label, "confidence": confidence, **extra}


def parsed(data: dict[str, Any], where: str) -> Prediction:
    return parse_prediction(read_row(data, where), where)


def predictions(*rows: dict[str, Any]) -> list[Prediction]:
    return [parsed(r, f"row {i}") for i, r in enumerate(rows)]


def test_abstained_and_failed_rows_have_no_label_and_confidence_zero() -> None:
    failed = {"id": 7, "status": "failed", "label": None, "confidence": 0.4, "error": "boom"}
    assert parsed(failed, "w") == Prediction("7", "failed", None, 0.0)
    assert parsed(row("a", None, 0.9), "w") == Prediction("a", "abstained", None, 0.0)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"id": "a", "label": "x", "confidence": 1.0}, "status: missing"),
        ({"status": "labeled", "label": "x", "confidence": 1.0}, "id: missing"),
        ({"id": " ", "status": "labeled", "label": "x", "confidence": 1.0}, "has no id"),
        (row("a", "x", 1.5), "confidence: Input should be less than or equal to 1"),
        ({"id": "a", "status": "labeled", "label": "x"}, "'a' has no confidence"),
        ({"id": "a", "status": "labeled", "confidence": 1.0}, "no single label (got NoneType)"),
        (row("a", ["x", "y"]), "no single label (got list)"),  # type: ignore[arg-type]
        (row("a", "x", True), "confidence: Input should be a valid number"),  # type: ignore[arg-type]
    ],
)
def test_bad_prediction_rows_say_what_and_where(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)) as caught:
        parsed(bad, "preds.jsonl:3")
    assert caught.value.where == "preds.jsonl:3"


def test_gold_label() -> None:
    assert gold_label("a", {"label": "positive"}, "w") == "positive"
    assert gold_label("a", {"label": 3}, "w") == "3"
    with pytest.raises(InputError, match="gold record 'a' has no label") as caught:
        gold_label("a", {"labels": ["x"]}, "gold.jsonl:1")
    assert caught.value.where == "gold.jsonl:1"
    assert caught.value.hint is not None and "multi-label" in caught.value.hint


GOLD = [("a", "pos"), ("b", "neg"), ("c", "pos")]


def test_pair_follows_gold_order() -> None:
    outcomes, pairing = pair(
        predictions(row("c", "pos"), row("a", "neg", 0.6), row("b", None)), GOLD
    )
    assert [(o.id, o.gold, o.predicted, o.correct) for o in outcomes] == [
        ("a", "pos", "neg", False),
        ("b", "neg", None, False),
        ("c", "pos", "pos", True),
    ]
    assert (pairing.predictions, pairing.gold, pairing.scored) == (3, 3, 3)


def test_missing_ids_on_both_sides_are_counted_with_examples() -> None:
    preds = predictions(row("a", "pos"), row("x", "pos"), row("y", "neg"))
    with pytest.raises(JoinError) as caught:
        pair(preds, GOLD, names=("p.jsonl", "g.jsonl"))
    error = caught.value
    assert (error.missing_predictions, error.missing_gold) == (2, 2)
    assert "2 of 3 gold ids have no prediction (e.g. 'b', 'c')" in error.message
    assert "2 of 3 predictions have no gold label (e.g. 'x', 'y')" in error.message
    assert "p.jsonl and g.jsonl" in error.message
    assert error.hint is not None and "--allow-missing" in error.hint


def test_examples_are_capped() -> None:
    gold = [(str(i), "pos") for i in range(10)]
    with pytest.raises(JoinError, match=r"e\.g\. '1', '2', '3', …"):
        pair(predictions(row("0", "pos")), gold)


def test_allow_missing_scores_the_ids_in_both_and_keeps_the_rest_on_record() -> None:
    preds = predictions(row("a", "pos"), row("x", "pos"))
    outcomes, pairing = pair(preds, GOLD, allow_missing=True)
    assert [o.id for o in outcomes] == ["a"]
    assert pairing.gold_without_prediction == ("b", "c")
    assert pairing.predictions_without_gold == ("x",)


def test_no_common_id_is_an_error_even_when_missing_is_allowed() -> None:
    with pytest.raises(JoinError, match="no id is in both"):
        pair(predictions(row("x", "pos")), GOLD, allow_missing=True)


def test_no_prediction_rows_is_said_plainly() -> None:
    with pytest.raises(JoinError, match=r"p\.jsonl has no prediction rows"):
        pair([], GOLD, allow_missing=True, names=("p.jsonl", "g.jsonl"))


@pytest.mark.parametrize("side", ["predictions", "gold"])
def test_duplicate_ids_are_an_error(side: str) -> None:
    preds = predictions(row("a", "pos"), row("b", "neg"), row("c", "pos"))
    gold = GOLD
    if side == "predictions":
        preds.append(preds[0])
    else:
        gold = [*GOLD, ("b", "pos")]
    with pytest.raises(JoinError, match=f"appears twice in {side}"):
        pair(preds, gold)


def test_evaluate_puts_every_metric_in_one_summary() -> None:
    preds = predictions(row("a", "pos", 1.0), row("b", "pos", 0.6), row("c", None))
    outcomes, pairing = pair(preds, GOLD)
    summary = evaluate(outcomes, pairing, Options(resamples=50, target_accuracy=0.9))
    assert (summary.records, summary.labeled, summary.abstained, summary.correct) == (3, 2, 1, 1)
    assert summary.accuracy.value == pytest.approx(1 / 3)
    assert [c.binning for c in summary.calibration] == ["equal_width", "equal_mass"]
    assert summary.auroc == 1.0
    assert summary.selective.point is not None
    assert summary.selective.point.coverage == pytest.approx(1 / 3)
    assert summary.confusion.abstained == (0, 1)
    assert summary == evaluate(outcomes, pairing, Options(resamples=50, target_accuracy=0.9))
