"""Topics of a customer support message: the schema used by examples/tickets (multi-label)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Topic = Literal["billing", "shipping", "product", "account", "refund"]


class TicketTopics(BaseModel):
    """Every topic the message raises; an empty list when none applies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: list[Topic] = Field(max_length=5, description="every topic the message raises")
