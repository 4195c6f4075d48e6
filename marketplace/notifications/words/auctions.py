"""What buyers and bidders hear as an auction runs: published, open, outbid, awarded,
closed without bids, cancelled."""

from __future__ import annotations

from marketplace.db import Conn, Row
from marketplace.events import (
    AuctionAwarded,
    AuctionCancelled,
    AuctionClosedNoBids,
    AuctionOpened,
    AuctionPublished,
    BidPlaced,
)
from marketplace.notifications import queries
from marketplace.notifications.writer import Writer, money, when


async def published(w: Writer, conn: Conn, event: AuctionPublished, a: Row) -> None:
    """The buyer hears when bidding opens and closes."""
    opens = when(w.settings, event.starts_at)
    closes = when(w.settings, event.ends_at)
    await w.to_buyer(
        conn,
        event,
        a,
        f"Published: {a['title']}",
        f'Your auction "{a["title"]}" is published. Bidding opens {opens} and closes '
        f"{closes}.\n\n{w.auction_link(a)}",
    )


async def opened(w: Writer, conn: Conn, event: AuctionOpened, a: Row) -> None:
    """The buyer hears bidding is open, and until when."""
    closes = when(w.settings, event.ends_at)
    await w.to_buyer(
        conn,
        event,
        a,
        f"Bidding is open: {a['title']}",
        f'Bidding on "{a["title"]}" is open until {closes}.\n\n{w.auction_link(a)}',
    )


async def outbid(w: Writer, conn: Conn, event: BidPlaced) -> None:
    """The bidder whose low bid this one beat. Only reverse auctions emit bid.placed
    before close, and the words name the amount, never who bid it (DESIGN §4)."""
    auction_id, bid_id = event.auction_id, event.bid_id
    outbid = await queries.get_outbid_bidder(conn, auction_id, bid_id)
    if outbid is None:
        return
    amount = money(event.amount_cents)
    closes = when(w.settings, event.ends_at)
    await w.send(
        conn,
        f"bid:{bid_id}:outbid",
        event,
        outbid,
        f"Outbid: {outbid['title']}",
        f'You have been outbid on "{outbid["title"]}": the lowest bid is now {amount}. '
        f"Bidding closes {closes}.\n\n{w.link(f'/auctions/{auction_id}')}",
    )


async def awarded(w: Writer, conn: Conn, event: AuctionAwarded, a: Row) -> None:
    """The winner hears they won, every other bidder that the auction went to another,
    and the buyer to whom."""
    winner_id, amount, award_id = event.winner_id, event.amount_cents, event.award_id
    link = w.auction_link(a)
    due = when(w.settings, a["delivery_due_at"]) if a["delivery_due_at"] else None
    winner = await queries.get_user_contact(conn, winner_id)
    if winner is not None:
        closed = when(w.settings, a["ends_at"])
        deliver = f" Deliver a merged pull request by {due}." if due else ""
        deliver = f" Bidding closed {closed}.{deliver}"
        await w.send(
            conn,
            f"award:{award_id}:won",
            event,
            winner,
            f"You won: {a['title']}",
            f'Your bid of {money(amount)} won "{a["title"]}".{deliver}\n\n'
            f"Submit your pull request at {link}",
        )
    bidders = await queries.list_bidders(conn, a["id"])
    # Once per auction, however many bids they placed or awards follow.
    await w.to_each(
        conn,
        event,
        [b for b in bidders if b["id"] != winner_id],
        lambda bidder: f"auction:{a['id']}:lost:{bidder['id']}",
        f"Auction closed: {a['title']}",
        f'"{a["title"]}" was awarded to another bidder at {money(amount)}. '
        f"Thank you for bidding.\n\n{link}",
    )
    await w.to_buyer(
        conn,
        event,
        a,
        f"Awarded: {a['title']}",
        f'"{a["title"]}" was awarded to {event.winner_alias} for {money(amount)}.\n\n{link}',
    )


async def no_bids(w: Writer, conn: Conn, event: AuctionClosedNoBids, a: Row) -> None:
    """The buyer hears no one bid."""
    await w.to_buyer(
        conn,
        event,
        a,
        f"Closed with no bids: {a['title']}",
        f'"{a["title"]}" closed without any bid. You can copy it into a new draft '
        f"with a longer window or a higher cap.\n\n{w.auction_link(a)}",
    )


async def cancelled(w: Writer, conn: Conn, event: AuctionCancelled, a: Row) -> None:
    """The buyer and every bidder hear of the cancellation and its reason."""
    reason = event.reason
    link = w.auction_link(a)
    await w.to_buyer(
        conn,
        event,
        a,
        f"Cancelled: {a['title']}",
        f'"{a["title"]}" was cancelled. Reason: {reason}\n\n{link}',
    )
    await w.to_each(
        conn,
        event,
        await queries.list_bidders(conn, a["id"]),
        lambda bidder: f"auction:{a['id']}:cancelled:{bidder['id']}",
        f"Cancelled: {a['title']}",
        f'"{a["title"]}", which you bid on, was cancelled and your bids are void. '
        f"Reason: {reason}\n\n{link}",
    )
