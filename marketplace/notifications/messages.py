"""Who hears about what: the notifications consumer turns events into messages, each a
mail_outbox row with its in-app twin (``writer.py``); the words are in ``words/``.

Subscriptions are by event tag, so events other modules emit later are mailed as soon as
they exist. Handlers read the typed event (``marketplace.events``); two tags outside the
union are listened for already and arrive as ``UnknownEvent``: ``auction.pending_review``
(auction_id: reviewers are asked to review, as for ``delivery.verified``) and
``auction.reviewed`` (auction_id, award_id, decision, reason: as ``review.decided``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from marketplace.db import Conn, Row
from marketplace.events import (
    AuctionAmended,
    AuctionAwarded,
    AuctionCancelled,
    AuctionClosedNoBids,
    AuctionOpened,
    AuctionPublished,
    BidPlaced,
    DeliverySubmitted,
    DeliveryVerified,
    GithubAccessLost,
    PaymentDetailsProvided,
    PaymentExecuted,
    PaymentReleased,
    QuestionAnswered,
    QuestionAsked,
    ReviewDecided,
    TokenIssuedForUser,
    VerificationDecided,
)
from marketplace.notifications import queries
from marketplace.notifications.words import (
    accounts,
    auctions,
    clarifications,
    deliveries,
    payments,
)
from marketplace.notifications.writer import Writer
from marketplace.settings import Settings
from marketplace.streams.consumer import Received, StreamEvent, UnknownEvent

GROUP = "notifications"

Handler = Callable[[Writer, Conn, Received], Awaitable[None]]
AuctionHandler = Callable[[Writer, Conn, Received, Row], Awaitable[None]]
E = TypeVar("E", bound=Received)


def on(kind: type[E], words: Callable[[Writer, Conn, E], Awaitable[None]]) -> Handler:
    """A handler of the events of type ``kind`` (others of its tag are left)."""

    async def handle(w: Writer, conn: Conn, event: Received) -> None:
        if isinstance(event, kind):
            await words(w, conn, event)

    return handle


def on_auction(
    kind: type[E], words: Callable[[Writer, Conn, E, Row], Awaitable[None]]
) -> AuctionHandler:
    """A handler of the events of type ``kind`` about an auction, given the auction."""

    async def handle(w: Writer, conn: Conn, event: Received, auction: Row) -> None:
        if isinstance(event, kind):
            await words(w, conn, event, auction)

    return handle


# Handlers of events about an auction get it loaded (and are skipped when it is gone); the
# others read what they need from the event. An event of a tag in the union is its Struct,
# of another tag an UnknownEvent.
ABOUT_AUCTION: dict[str, AuctionHandler] = {
    "auction.published": on_auction(AuctionPublished, auctions.published),
    "auction.opened": on_auction(AuctionOpened, auctions.opened),
    "auction.awarded": on_auction(AuctionAwarded, auctions.awarded),
    "auction.closed_no_bids": on_auction(AuctionClosedNoBids, auctions.no_bids),
    "auction.cancelled": on_auction(AuctionCancelled, auctions.cancelled),
    "delivery.submitted": on_auction(DeliverySubmitted, deliveries.delivered),
    "delivery.verified": on_auction(DeliveryVerified, deliveries.to_review),
    "auction.pending_review": on_auction(UnknownEvent, deliveries.to_review),
    "review.decided": on_auction(ReviewDecided, deliveries.reviewed),
    "auction.reviewed": on_auction(UnknownEvent, deliveries.reviewed),
    "payment.details_provided": on_auction(PaymentDetailsProvided, payments.details_provided),
    "question.asked": on_auction(QuestionAsked, clarifications.question_asked),
    "question.answered": on_auction(QuestionAnswered, clarifications.question_answered),
    "auction.amended": on_auction(AuctionAmended, clarifications.amended),
    "auction.github_access_lost": on_auction(GithubAccessLost, deliveries.github_access_lost),
}
HANDLERS: dict[str, Handler] = {
    "bid.placed": on(BidPlaced, auctions.outbid),
    "vendor.verification_decided": on(VerificationDecided, accounts.verification_decided),
    "token.issued_for_user": on(TokenIssuedForUser, accounts.token_issued),
    "payment.released": on(PaymentReleased, payments.released),
    "payment.executed": on(PaymentExecuted, payments.executed),
}


class Mailer:
    """The handler of the notifications consumer (one instance per process)."""

    def __init__(self, settings: Settings) -> None:
        self.writer = Writer(settings)
        self.about_auction = ABOUT_AUCTION
        self.handlers = HANDLERS
        # Every tag with words: the consumer acknowledges any other unread.
        self.tags = frozenset(ABOUT_AUCTION) | frozenset(HANDLERS)

    async def __call__(self, conn: Conn, event: StreamEvent) -> None:
        about = self.about_auction.get(event.type)
        if about is not None:
            auction_id = event.auction_id
            if auction_id is None:
                return
            auction = await queries.get_auction_brief(conn, auction_id)
            if auction is not None:
                await about(self.writer, conn, event.event, auction)
            return
        handler = self.handlers.get(event.type)
        if handler is not None:
            await handler(self.writer, conn, event.event)
