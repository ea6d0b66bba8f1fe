"""Sentiment of a short text: the schema used by examples/sentiment."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Sentiment(BaseModel):
    """One label per text: the overall sentiment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: Literal["positive", "negative"] = Field(description="overall sentiment of the text")
