"""Request and response Structs of reviews."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from marketplace.structs import Request, Response


class ReviewIn(Request, kw_only=True):
    decision: Literal["accept", "reject"]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class ReviewItem(Response, frozen=True, kw_only=True):
    """A delivery awaiting review, with the evidence of its latest verification."""

    auction_id: int
    title: str
    repo: str
    department_id: int
    department_name: str
    award_id: int
    winner_id: int
    amount_cents: int
    pull_request_url: str | None
    verification_id: int | None
    verification_passed: bool | None
    checks: list[dict[str, Any]]
    verified_at: dt.datetime | None
    winner_name: str = ""  # the payee an acceptance pays


class Review(Response, frozen=True, kw_only=True):
    id: int
    auction_id: int
    award_id: int
    decision: str
    reason: str
    auction_status: str
    payment_id: int | None = None
    release_after: dt.datetime | None = None
