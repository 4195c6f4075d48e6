"""Payment orders: created, released, paid out, confirmed, disputed or cancelled."""

from __future__ import annotations

import datetime as dt

from marketplace.events.base import AuctionEvent


class PaymentCreated(AuctionEvent, frozen=True, kw_only=True, tag="payment.created"):
    payment_id: int
    payee_id: int
    amount_cents: int
    release_after: dt.datetime
    missing_details: bool = False


class PaymentReleased(AuctionEvent, frozen=True, kw_only=True, tag="payment.released"):
    payment_id: int
    payee_id: int
    amount_cents: int
    provider_reference: str
    missing_details: bool = False


class PaymentFailed(AuctionEvent, frozen=True, kw_only=True, tag="payment.failed"):
    payment_id: int
    error: str
    attempts: int


class PaymentConfirmed(AuctionEvent, frozen=True, kw_only=True, tag="payment.confirmed"):
    payment_id: int


class PaymentExecuted(AuctionEvent, frozen=True, kw_only=True, tag="payment.executed"):
    """Finance recorded that the released order was paid out (card payment or transfer)."""

    payment_id: int
    payee_id: int


class PaymentDetailsProvided(
    AuctionEvent, frozen=True, kw_only=True, tag="payment.details_provided"
):
    """The payee gave the payment details an order lacked."""

    payment_id: int


class PaymentDisputed(AuctionEvent, frozen=True, kw_only=True, tag="payment.disputed"):
    payment_id: int
    dispute_id: int
    opened_by: int
    reason: str


class DisputeResolved(AuctionEvent, frozen=True, kw_only=True, tag="payment.dispute_resolved"):
    payment_id: int
    dispute_id: int
    outcome: str
    reason: str


class PaymentCancelled(AuctionEvent, frozen=True, kw_only=True, tag="payment.cancelled"):
    payment_id: int
    reason: str
