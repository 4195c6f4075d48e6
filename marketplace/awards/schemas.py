"""Request and response Structs of awards."""

from __future__ import annotations

import datetime as dt

from marketplace.structs import Reason, Request, Response, ZonedTime


class DeadlineExtension(Request, kw_only=True):
    due_at: ZonedTime
    reason: Reason


class DeclineIn(Request, kw_only=True):
    reason: Reason


class Award(Response, frozen=True, kw_only=True):
    id: int
    auction_id: int
    auction_title: str
    auction_status: str
    round: int
    winner_id: int
    amount_cents: int
    status: str
    awarded_at: dt.datetime
    delivery_due_at: dt.datetime | None
    delivered_at: dt.datetime | None
    runner_up_count: int


class Rerun(Response, frozen=True, kw_only=True):
    auction_id: int
    copied_from: int
    status: str
