"""Request and response Structs of deliveries and their verification records."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from marketplace.structs import Request, Response


class DeliveryIn(Request, kw_only=True):
    pull_request_url: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class Delivery(Response, frozen=True, kw_only=True):
    id: int
    auction_id: int
    award_id: int
    pull_request_url: str
    repo: str
    pr_number: int
    status: str
    submitted_at: dt.datetime
    auction_status: str
    delivery_due_at: dt.datetime | None
    head_sha: str | None = None


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One rule of DESIGN §5: its verdict and the evidence it was decided on."""

    name: str
    passed: bool
    evidence: dict[str, Any]
    detail: str


class VerificationRecord(Response, frozen=True, kw_only=True):
    id: int
    delivery_id: int
    award_id: int
    pull_request_url: str
    passed: bool
    trigger: str
    merged_at: dt.datetime | None
    created_at: dt.datetime
    checks: list[Check]
    # 'passed' or 'failed' (a verdict), or 'error': GitHub could not be read, ``error`` says
    # why; the attempt is retried and the delivery waits.
    outcome: Literal["passed", "failed", "error"] = "failed"
    error: str | None = None


class VerificationReport(Response, frozen=True, kw_only=True):
    """An auction's verification records (newest first), its current delivery and deadline."""

    auction_id: int
    auction_status: str
    award_id: int | None
    winner_id: int | None
    delivery_due_at: dt.datetime | None
    delivery: Delivery | None
    items: list[VerificationRecord]
    next: str | None
