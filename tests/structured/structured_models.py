"""The Pydantic models the typed-output tests ask for."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class Colour(StrEnum):
    red = "red"
    blue = "blue"


class Address(BaseModel):
    city: str
    zip_code: int


class Review(BaseModel):
    """Every kind of field the results frame types."""

    label: Literal["positive", "negative", "neutral"]
    score: float = Field(ge=0, le=1)
    stars: int
    recommended: bool
    written: datetime
    colour: Colour
    address: Address
    tags: list[str]
    note: str | None = None


class Sentiment(BaseModel):
    label: Literal["positive", "negative"]
    confidence: float
