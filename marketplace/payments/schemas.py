"""Request and response Structs of payments."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from marketplace.structs import Reason, Request, Response


class PaymentDetailsIn(Request, kw_only=True):
    method: Literal["card", "transfer"]
    reference: Annotated[str, msgspec.Meta(min_length=2, max_length=200)]


class PaymentDetails(Response, frozen=True, kw_only=True):
    method: str
    reference: str
    updated_at: dt.datetime


class DisputeIn(Request, kw_only=True):
    reason: Reason


class ExecutedIn(Request, kw_only=True):
    reference: Annotated[str, msgspec.Meta(min_length=2, max_length=200)]


class ResolveIn(Request, kw_only=True):
    outcome: Literal["release", "cancel"]
    reason: Reason


class Dispute(Response, frozen=True, kw_only=True):
    id: int
    payment_id: int
    opened_by: int
    reason: str
    status: str
    outcome: str | None
    resolution_reason: str | None
    opened_at: dt.datetime
    resolved_at: dt.datetime | None


class Payment(Response, frozen=True, kw_only=True):
    id: int
    auction_id: int
    award_id: int
    department_id: int
    payee_id: int
    amount_cents: int
    status: str
    release_after: dt.datetime
    released_at: dt.datetime | None
    confirmed_at: dt.datetime | None
    missing_details: bool
    provider_reference: str | None
    attempts: int
    last_error: str | None
    disputed: bool
    disputes: list[Dispute] = msgspec.field(default_factory=list)
    executed_at: dt.datetime | None = None  # when finance recorded the order as paid out
    execution_reference: str | None = None  # the card payment's or transfer's reference
    auction_title: str | None = None
    payee_name: str | None = None
    department_name: str | None = None


# The states of a payment order.
PaymentStatus = Literal["pending", "released", "confirmed", "failed", "cancelled"]
