"""An invoice's key fields: the schema used by examples/invoices (structured extraction)."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Vendor(BaseModel):
    """Who issued the invoice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(max_length=80, description="the seller's name as written")
    country: str | None = Field(None, max_length=40, description="the seller's country, if given")


class LineItem(BaseModel):
    """One billed line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(max_length=80)
    quantity: int = Field(ge=0)
    amount: float = Field(description="the line's total, without the currency sign")


class Invoice(BaseModel):
    """The fields extracted from one invoice text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vendor: Vendor
    invoice_date: date = Field(description="the issue date")
    currency: Literal["EUR", "USD", "GBP", "CHF"]
    total: float = Field(description="the amount due, without the currency sign")
    line_items: list[LineItem] = Field(max_length=5)
