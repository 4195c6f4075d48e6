"""What the auction page's bid box tells a vendor: what is true for them now, from the
auction's state first and their bids second (winner, lost, low bidder, outbid, sealed bid
in, not eligible and why, not open yet, closed, cancelled).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from marketplace.auctions.schemas import Position
from marketplace.web.common import money

Tone = Literal["success", "warning", "info"]
AFTER_AWARD = (
    "awarded",
    "delivered",
    "pending_review",
    "accepted",
    "rejected",
    "missed_delivery",
    "paid",
    "payment_confirmed",
)
WON = {
    "awarded": ("success", ""),
    "delivered": ("success", "; your delivery is being verified"),
    "pending_review": ("success", "; your delivery is awaiting review"),
    "accepted": ("success", "; your work was accepted and the payment order is on its way"),
    "paid": ("success", "; the payment was released"),
    "payment_confirmed": ("success", "; you confirmed receiving the payment"),
    "rejected": ("warning", ", but the work was rejected"),
    "missed_delivery": (
        "warning",
        ", but the delivery deadline passed without a verified pull request",
    ),
}
INELIGIBLE = {
    "role_required": "only vendors bid",
    "conflict_of_interest": "you belong to the buying department",
}


class Box(msgspec.Struct, frozen=True, kw_only=True):
    """The bid box's message (None: the form alone speaks) and whether the form is shown."""

    tone: Tone = "info"
    text: str | None = None
    form: bool = False


def _ineligible(position: Position, verification: str | None) -> str | None:
    if position.reason == "vendor_not_verified":
        return (
            f"You cannot bid until an administrator verifies your vendor account "
            f"(it is {verification or 'unverified'})."
        )
    if position.reason in INELIGIBLE:
        return f"You cannot bid: {INELIGIBLE[position.reason]}."
    return None


def bid_box(
    *,
    status: str,
    sealed: bool,
    position: Position | None,
    winner_id: int | None,
    award_cents: int | None,
    viewer_id: int,
    verification: str | None = None,
) -> Box:
    """The box for ``viewer_id`` on an auction in ``status`` (``position`` is theirs)."""
    if position is None or status == "draft":
        return Box()
    best = money(position.your_best_cents) if position.your_best_cents is not None else None
    if status == "cancelled":
        voided = "; your bid was voided" if position.has_bid else ""
        return Box(tone="warning", text=f"This auction was cancelled{voided}.")
    if status == "closed_no_bids":
        return Box(text="Bidding closed with no bids.")
    if status in AFTER_AWARD:
        if winner_id == viewer_id:
            tone, tail = WON[status]
            at = f" at {money(award_cents)}" if award_cents is not None else ""
            return Box(
                tone="success" if tone == "success" else "warning",
                text=f"You won this auction{at}{tail}.",
            )
        if position.has_bid and best is not None:
            return Box(
                text=f"Bidding has closed and the work was awarded to another bidder. "
                f"Your best bid was {best}."
            )
        return Box(text="Bidding has closed.")
    refusal = _ineligible(position, verification)
    if refusal is not None:
        return Box(tone="warning", text=refusal)
    if status == "scheduled":
        return Box(text="Bidding has not opened yet: you can bid once it opens.")
    if status != "open":
        return Box(text=f"Bidding is not open (the auction is {status.replace('_', ' ')}).")
    if sealed:
        if position.has_bid and best is not None:
            return Box(
                tone="success",
                text=f"Your sealed bid of {best} is in. Nobody else can see it until the "
                "auction closes.",
            )
        return Box(form=position.can_bid)
    if position.is_low_bidder:
        return Box(
            tone="success",
            text=f"You are the low bidder at {best}." if best else "You are the low bidder.",
        )
    if position.has_bid and best is not None:
        return Box(
            tone="warning",
            text=f"You have been outbid. Your best bid is {best}.",
            form=position.can_bid,
        )
    return Box(form=position.can_bid)
