"""What a task must be to be saved as a draft and to be published: every rule its fields
break, listed all at once so a form can show them together."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marketplace.auctions import queries
from marketplace.db import Row
from marketplace.errors import Unprocessable
from marketplace.settings import Settings

# A publish may name a start a few minutes in the past (clock skew, form filled slowly):
# the auction then opens at once.
PUBLISH_GRACE = dt.timedelta(minutes=5)


def rule_problems(fields: dict[str, Any], settings: Settings) -> list[Unprocessable]:
    """Every rule a task's fields break (all of them, so a form can show them at once)."""
    found = []
    cap = fields["price_cap_cents"]
    if cap > settings.threshold_cents:
        found.append(
            Unprocessable(
                "cap_above_threshold",
                f"the price cap {cap} exceeds the micro-purchase threshold "
                f"{settings.threshold_cents}",
                field="price_cap_cents",
                threshold_cents=settings.threshold_cents,
            )
        )
    starts, ends = fields["starts_at"], fields["ends_at"]
    if ends <= starts:
        found.append(
            Unprocessable("ends_before_start", "ends_at must be after starts_at", field="ends_at")
        )
    elif (ends - starts).total_seconds() < settings.min_auction_seconds:
        found.append(
            Unprocessable(
                "window_too_short",
                f"the bidding window must be at least {settings.min_auction_seconds} seconds",
                field="ends_at",
                min_auction_seconds=settings.min_auction_seconds,
            )
        )
    due, days = fields["delivery_due_at"], fields["delivery_business_days"]
    if (due is None) == (days is None):
        found.append(
            Unprocessable(
                "delivery_due_required",
                "give exactly one of delivery_due_at or delivery_business_days",
                field="delivery_due_at",
            )
        )
    elif due is not None and due <= ends:
        found.append(
            Unprocessable(
                "delivery_before_close",
                "delivery_due_at must be after the bidding closes",
                field="delivery_due_at",
            )
        )
    return found


def draft_problems(fields: dict[str, Any], settings: Settings) -> list[Unprocessable]:
    """Every reason ``create`` or ``update`` would refuse these fields (for the task form)."""
    blank = [] if str(fields.get("title") or "").strip() else [title_required()]
    return blank + rule_problems(fields, settings)


def title_required() -> Unprocessable:
    return Unprocessable("title_required", "the title must not be blank", field="title")


def publish_problems(row: Row, settings: Settings) -> list[Unprocessable]:
    """Every reason a draft cannot be published now (its rules, then publication's own)."""
    fields = {name: row[name] for name in queries.EDITABLE}
    found = rule_problems(fields, settings)
    now = row["server_time"]
    if row["starts_at"] < now - PUBLISH_GRACE:
        found.append(
            Unprocessable(
                "starts_in_past", "starts_at is in the past; move it forward", field="starts_at"
            )
        )
    elif (
        row["ends_at"] - max(now, row["starts_at"])
    ).total_seconds() < settings.min_auction_seconds and not any(
        p.code in ("window_too_short", "ends_before_start") for p in found
    ):
        found.append(
            Unprocessable(
                "window_too_short",
                f"the bidding window must be at least {settings.min_auction_seconds} seconds",
                field="ends_at",
                min_auction_seconds=settings.min_auction_seconds,
            )
        )
    for name in ("summary", "description"):
        if not row[name].strip():
            found.append(
                Unprocessable(f"{name}_required", f"a published task needs a {name}", field=name)
            )
    return found
