"""Structured extraction: normalised field values, the per-field vote's rules and properties,
the answer skeleton, and exact-match scoring against gold."""

from __future__ import annotations

import enum
import random
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, model_validator

from llmlabel.core.fields import (
    SCORING,
    extracted,
    field_accuracy,
    flatten_json,
    normalise,
    per_field,
    skeleton,
    vote,
)
from llmlabel.core.metrics import Outcome


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Vendor(BaseModel):
    name: str
    country: str | None = None


class Item(BaseModel):
    what: str
    amount: float


class Invoice(BaseModel):
    vendor: Vendor
    issued: date
    currency: Literal["EUR", "USD"]
    total: float
    items: list[Item] = []


class Shipment(BaseModel):
    sender: Vendor | None
    color: Color


class Span(BaseModel):
    start: int
    end: int

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end < self.start:
            raise ValueError("end before start")
        return self


def invoice(**changes: Any) -> Any:
    data: dict[str, Any] = {
        "vendor": {"name": "Acme GmbH", "country": "Germany"},
        "issued": "2025-03-01",
        "currency": "EUR",
        "total": 12.5,
        "items": [{"what": "Bolts", "amount": 12.5}],
    }
    data.update(changes)
    return extracted(Invoice.model_validate(data))


def test_strings_compare_without_case_or_extra_whitespace() -> None:
    assert normalise("  ACME\n GmbH ") == normalise("acme gmbh")
    assert normalise(Color.RED) == "red"
    assert normalise([1, "A  b"]) == (1, "a b")
    assert normalise({"b": 1, "a": 2}) == normalise({"a": 2, "b": 1})


def test_values_the_schema_parses_vote_together() -> None:
    a = invoice(total="12.50", issued="2025-03-01")
    b = invoice(
        total=12.5, issued=date(2025, 3, 1), vendor={"name": "ACME  GmbH", "country": "germany"}
    )
    assert a == b and hash(a) == hash(b)


class Bill(BaseModel):
    amount: Decimal
    lines: list[Decimal] = []
    rate: dict[str, Decimal] = {}
    note: Decimal | None = None


def test_decimal_fields_are_written_and_scored_as_numbers() -> None:
    spellings = ["12.50", "12.5", "12.50"]
    values = [
        extracted(Bill.model_validate({"amount": a, "lines": ["3", "0.25"], "rate": {"x": "2.0"}}))
        for a in spellings
    ]
    result = vote(values)
    assert result.label == {"amount": 12.5, "lines": [3, 0.25], "rate": {"x": 2}, "note": None}
    predicted = SCORING.predicted(result.label)
    gold = {"amount": 12.5, "lines": [3, 0.25], "rate": {"x": 2.0}, "note": None}
    assert SCORING.correct(flatten_json(gold), predicted)

    class Unbounded(BaseModel):  # JSON has no Infinity: that stays pydantic's string
        amount: Decimal = Field(allow_inf_nan=True)

    infinite = vote([extracted(Unbounded.model_validate({"amount": "Infinity"}))])
    assert infinite.label == {"amount": "Infinity"}


def test_each_field_is_voted_on_its_own() -> None:
    values = [
        invoice(),
        invoice(total=13.0),
        invoice(vendor={"name": "ACME GMBH", "country": "Germany"}, currency="USD"),
    ]
    result = vote(values)
    assert result.label == {
        "vendor": {"name": "Acme GmbH", "country": "Germany"},
        "issued": "2025-03-01",
        "currency": "EUR",
        "total": 12.5,
        "items": [{"what": "Bolts", "amount": 12.5}],
    }
    assert result.counts == {
        "vendor.name": 3,
        "vendor.country": 3,
        "issued": 3,
        "currency": 2,
        "total": 2,
        "items": 3,
    }
    assert result.label_confidence is not None
    assert result.label_confidence["currency"] == round(2 / 3, 6)
    assert result.confidence == 2 / 3 and not result.tie
    Invoice.model_validate(result.label)


def test_the_winner_is_shown_as_most_samples_spelled_it() -> None:
    names = ["ACME GmbH", "Acme GmbH", "Acme GmbH", "Bolt Ltd"]
    values = [invoice(vendor={"name": n}) for n in names]
    result = vote(values)
    assert result.label["vendor"]["name"] == "Acme GmbH"
    assert result.counts["vendor.name"] == 3


def test_invalid_samples_lower_confidence_but_do_not_vote() -> None:
    result = vote([invoice(), invoice(), None, None])
    assert result.confidence == 0.5
    assert result.label_confidence == dict.fromkeys(result.counts, 0.5)


def test_an_optional_nested_model_first_votes_given_or_null() -> None:
    given = [
        extracted(Shipment(sender=Vendor(name=n), color=Color.RED))
        for n in ("Acme", "Acme", "Bolt")
    ]
    null = [extracted(Shipment(sender=None, color=Color.BLUE)) for _ in range(2)]
    result = vote([*given, *null])
    assert result.label == {"sender": {"name": "Acme", "country": None}, "color": "red"}
    assert result.counts == {"sender.name": 2, "sender.country": 3, "color": 3}
    assert result.confidence == 2 / 5
    null_wins = vote([given[0], *null])
    assert null_wins.label == {"sender": None, "color": "blue"}
    assert null_wins.counts == {"sender": 2, "color": 2}


def test_ties_do_not_depend_on_sample_order() -> None:
    a, b = invoice(total=1.0), invoice(total=2.0)
    assert vote([a, b]) == vote([b, a])
    assert vote([a, b]).tie and vote([a, b]).label["total"] == 1.0
    given = extracted(Shipment(sender=Vendor(name="Acme"), color=Color.RED))
    null = extracted(Shipment(sender=None, color=Color.RED))
    assert vote([null, given]).label["sender"] == {"name": "Acme", "country": None}


def test_a_combination_the_schema_rejects_falls_back_to_the_best_agreeing_sample() -> None:
    values = [extracted(Span(start=s, end=e)) for s, e in [(5, 9), (5, 6), (1, 3), (0, 3)]]
    # per field: start 5 (2 votes), end 3 (2 votes); {5, 3} is rejected by the schema. Every
    # sample agrees with one winner, so the smallest JSON wins: {"end": 3, "start": 0}.
    result = vote(values)
    assert result.label == {"start": 0, "end": 3}
    Span.model_validate(result.label)
    assert result.counts == {"start": 1, "end": 2}
    assert result.confidence == 1 / 4


def test_no_valid_sample_abstains_with_the_reason() -> None:
    result = vote([None], (), ["sample 0: total: Input should be a valid number"])
    assert result.label is None and result.confidence == 0.0
    assert result.abstain_reason is not None and "valid number" in result.abstain_reason


totals = st.lists(st.one_of(st.none(), st.sampled_from([1.0, 2.0, 3.0])), min_size=1, max_size=7)


@given(totals, st.randoms())
def test_sample_order_never_matters(values: list[float | None], rnd: random.Random) -> None:
    samples = [None if v is None else invoice(total=v) for v in values]
    shuffled = samples[:]
    rnd.shuffle(shuffled)
    assert vote(samples) == vote(shuffled)


@given(totals)
def test_confidences_are_vote_shares(values: list[float | None]) -> None:
    samples = [None if v is None else invoice(total=v) for v in values]
    result = vote(samples)
    valid = sum(v is not None for v in values)
    assert 0.0 <= result.confidence <= 1.0
    if not valid:
        assert result.label is None and result.abstain_reason
        return
    assert result.label_confidence is not None
    for path, count in result.counts.items():
        assert 1 <= count <= valid
        assert result.label_confidence[path] == round(count / len(values), 6)
    assert result.confidence == min(result.counts.values()) / len(values)
    if len(set(values)) == 1:
        assert result.confidence == 1.0
    Invoice.model_validate(result.label)


def test_skeleton_shows_the_schema_compactly() -> None:
    assert skeleton(Invoice) == {
        "vendor": {"name": "<text>", "country": "<text> or null"},
        "issued": "<YYYY-MM-DD>",
        "currency": "EUR | USD",
        "total": "<number>",
        "items": [{"what": "<text>", "amount": "<number>"}, "..."],
    }
    assert skeleton(Shipment) == {
        "sender": {"name": "<text>", "country": "<text> or null"},
        "color": "red | blue",
    }


def test_gold_and_predictions_flatten_to_normalised_leaves() -> None:
    flat = flatten_json({"vendor": {"name": " Acme  GmbH", "country": None}, "total": 12.5})
    assert flat == (("total", 12.5), ("vendor.country", None), ("vendor.name", "acme gmbh"))
    assert flatten_json({"vendor": None}) == (("vendor", None),)
    assert SCORING.gold({"id": "a", "answer": {"total": 1}}) == (("total", 1),)
    with pytest.raises(ValueError, match="answer"):
        SCORING.gold({"id": "a", "label": "x"})
    with pytest.raises(ValueError, match="object"):
        SCORING.predicted("not an object")


def test_per_field_exact_match_and_the_record_level_match() -> None:
    gold = {"vendor": {"name": "Acme"}, "total": 10}
    outcomes = [
        Outcome("a", flatten_json(gold), flatten_json({**gold, "total": 10.0}), 0.9),
        Outcome(
            "b", flatten_json(gold), flatten_json({"vendor": {"name": "ACME"}, "total": 9}), 0.5
        ),
        Outcome("c", flatten_json(gold), None, 0.0, status="abstained"),
    ]
    assert [o.correct for o in outcomes] == [True, False, False]
    assert field_accuracy(outcomes) == pytest.approx(3 / 6)
    scores = {s.label: s for s in per_field(outcomes)}
    assert scores["vendor.name"].recall == pytest.approx(2 / 3)
    assert scores["vendor.name"].precision == 1.0
    assert scores["total"].recall == pytest.approx(1 / 3)
    assert scores["total"].precision == pytest.approx(1 / 2)
    assert scores["total"].support == 3 and scores["total"].predicted == 2
