"""The bid box says what is true for the viewer in every auction state (issue 23, finding 2
and build 2): a table over states x viewers, and the winner's page as a vendor meets it."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from marketplace.auctions import lifecycle
from marketplace.auctions.schemas import Position
from marketplace.web.bid_box import AFTER_AWARD, bid_box
from tests.helpers import CLOSE_SETTINGS, Api, bid, end_auction_now, published_auction, sign_in

ME, OTHER = 7, 8
# The positions the auctions service gives each kind of vendor (auctions/service.py).
UNVERIFIED = Position(can_bid=False, reason="vendor_not_verified")
IN_DEPARTMENT = Position(can_bid=False, reason="conflict_of_interest")
NO_BID_OPEN = Position(can_bid=True, max_allowed_cents=350_000)
NO_BID_CLOSED = Position(can_bid=False, reason="auction_not_open")
LOW = Position(
    can_bid=False,
    reason="already_low_bidder",
    is_low_bidder=True,
    has_bid=True,
    your_best_cents=510_050,
)
OUTBID = Position(can_bid=True, has_bid=True, your_best_cents=520_000, max_allowed_cents=509_950)
SEALED_IN = Position(can_bid=False, reason="already_bid", has_bid=True, your_best_cents=510_050)
BID_CLOSED = Position(
    can_bid=False, reason="auction_not_open", has_bid=True, your_best_cents=510_050
)

# (status, sealed, position, winner, expected tone, words the box says, form shown)
TABLE: list[tuple[str, bool, Position, int | None, str, str | None, bool]] = [
    ("scheduled", False, NO_BID_CLOSED, None, "info", "Bidding has not opened yet", False),
    ("scheduled", False, UNVERIFIED, None, "warning", "verifies your vendor account", False),
    ("scheduled", False, IN_DEPARTMENT, None, "warning", "you belong to the buying", False),
    ("open", False, NO_BID_OPEN, None, "info", None, True),
    ("open", False, UNVERIFIED, None, "warning", "(it is pending)", False),
    ("open", False, IN_DEPARTMENT, None, "warning", "You cannot bid: you belong", False),
    ("open", False, LOW, None, "success", "You are the low bidder at $5,100.50.", False),
    (
        "open",
        False,
        OUTBID,
        None,
        "warning",
        "You have been outbid. Your best bid is $5,200.00.",
        True,
    ),
    ("open", True, NO_BID_OPEN, None, "info", None, True),
    ("open", True, SEALED_IN, None, "success", "Your sealed bid of $5,100.50 is in.", False),
    ("open", True, UNVERIFIED, None, "warning", "verifies your vendor account", False),
    ("closed_no_bids", False, NO_BID_CLOSED, None, "info", "Bidding closed with no bids.", False),
    ("closed_no_bids", True, UNVERIFIED, None, "info", "Bidding closed with no bids.", False),
    ("cancelled", False, BID_CLOSED, None, "warning", "cancelled; your bid was voided.", False),
    ("cancelled", True, NO_BID_CLOSED, None, "warning", "This auction was cancelled.", False),
]
for state in AFTER_AWARD:
    for sealed in (False, True):
        TABLE += [
            (state, sealed, BID_CLOSED, ME, "", "You won this auction at $5,100.50", False),
            (
                state,
                sealed,
                BID_CLOSED,
                OTHER,
                "info",
                "awarded to another bidder. Your best bid was $5,100.50.",
                False,
            ),
            (state, sealed, NO_BID_CLOSED, OTHER, "info", "Bidding has closed.", False),
            (state, sealed, UNVERIFIED, OTHER, "info", "Bidding has closed.", False),
        ]


@pytest.mark.parametrize(("status", "sealed", "position", "winner", "tone", "says", "form"), TABLE)
def test_the_box_says_what_is_true_for_the_viewer(
    status: str,
    sealed: bool,
    position: Position,
    winner: int | None,
    tone: str,
    says: str | None,
    form: bool,
) -> None:
    box = bid_box(
        status=status,
        sealed=sealed,
        position=position,
        winner_id=winner,
        award_cents=510_050 if winner else None,
        viewer_id=ME,
        verification="pending",
    )
    if says is None:
        assert box.text is None
    else:
        assert box.text is not None and says in box.text, (status, box.text)
    assert box.form is form
    if tone:
        assert box.tone == tone
    # Nothing but an open reverse auction with a better bid in it says "outbid".
    assert ("outbid" in (box.text or "")) == (status == "open" and position is OUTBID)
    if winner == ME:
        rejected_or_missed = status in ("rejected", "missed_delivery")
        assert box.tone == ("warning" if rejected_or_missed else "success")


async def test_the_winner_is_told_they_won_not_that_they_were_outbid(
    api: Api, client: Any, db: asyncpg.Connection, pool: Any
) -> None:
    buyer = await api.buyer()
    auction = await published_auction(api, buyer, price_cap_cents=600_000)
    aid = auction["id"]
    winner, other = await api.verified_vendor(), await api.verified_vendor()
    assert (await bid(api, other, aid, 520_000)).status_code == 201
    assert (await bid(api, winner, aid, 510_050)).status_code == 201
    await end_auction_now(db, aid)
    assert await lifecycle.close_auction(pool, aid, CLOSE_SETTINGS) == "awarded"

    await sign_in(client, winner)
    page = (await client.get(f"/auctions/{aid}")).text
    assert "You won this auction at $5,100.50." in page
    assert "outbid" not in page
    await sign_in(client, other)
    page = (await client.get(f"/auctions/{aid}")).text
    assert "awarded to another bidder. Your best bid was $5,200.00." in page
    assert "outbid" not in page
