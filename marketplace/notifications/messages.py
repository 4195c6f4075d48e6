"""Who hears about what: the notifications consumer turns events into mail_outbox rows,
each with its in-app twin in ``notifications`` (same key, subject and words).

Subscriptions are by event tag, so events other modules emit later are mailed as soon as
they exist. Handlers read the typed event (``marketplace.events``); two tags outside the
union are listened for already and arrive as ``UnknownEvent``: ``auction.pending_review``
(auction_id: reviewers are asked to review, as for ``delivery.verified``) and
``auction.reviewed`` (auction_id, award_id, decision, reason: as ``review.decided``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from marketplace.db import Conn, Fields, Row
from marketplace.events import (
    AnyEvent,
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
from marketplace.settings import Settings
from marketplace.streams.consumer import StreamEvent, UnknownEvent

GROUP = "notifications"

Received = AnyEvent | UnknownEvent
Handler = Callable[[Conn, Received], Awaitable[None]]
AuctionHandler = Callable[[Conn, Received, Row], Awaitable[None]]
E = TypeVar("E", bound=Received)


def on(kind: type[E], words: Callable[[Conn, E], Awaitable[None]]) -> Handler:
    """A handler of the events of type ``kind`` (others of its tag are left)."""

    async def handle(conn: Conn, event: Received) -> None:
        if isinstance(event, kind):
            await words(conn, event)

    return handle


def on_auction(kind: type[E], words: Callable[[Conn, E, Row], Awaitable[None]]) -> AuctionHandler:
    """A handler of the events of type ``kind`` about an auction, given the auction."""

    async def handle(conn: Conn, event: Received, auction: Row) -> None:
        if isinstance(event, kind):
            await words(conn, event, auction)

    return handle


class ReviewOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What the review's words read of ``auction.reviewed``, a tag outside the union whose
    fields may each be missing."""

    award_id: int | None = None
    decision: str = "decided"
    reason: str = ""


def money(cents: int) -> str:
    """Integer cents as dollars: 349900 -> $3,499.00."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def when(settings: Settings, moment: dt.datetime | None) -> str:
    """A time in the deployment's zone, with the zone shown."""
    if moment is None:
        return "an unknown time"
    return moment.astimezone(settings.zone).strftime("%a %d %b %Y %H:%M %Z")


class Mailer:
    """The handler of the notifications consumer (one instance per process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Handlers of events about an auction get it loaded (and are skipped when it is
        # gone); the others read what they need from the event. An event of a tag in the
        # union is its Struct, of another tag an UnknownEvent.
        self.about_auction: dict[str, AuctionHandler] = {
            "auction.published": on_auction(AuctionPublished, self._published),
            "auction.opened": on_auction(AuctionOpened, self._opened),
            "auction.awarded": on_auction(AuctionAwarded, self._awarded),
            "auction.closed_no_bids": on_auction(AuctionClosedNoBids, self._no_bids),
            "auction.cancelled": on_auction(AuctionCancelled, self._cancelled),
            "delivery.submitted": on_auction(DeliverySubmitted, self._delivered),
            "delivery.verified": on_auction(DeliveryVerified, self._to_review),
            "auction.pending_review": on_auction(UnknownEvent, self._to_review),
            "review.decided": on_auction(ReviewDecided, self._reviewed),
            "auction.reviewed": on_auction(UnknownEvent, self._reviewed),
            "payment.details_provided": on_auction(PaymentDetailsProvided, self._details_provided),
            "question.asked": on_auction(QuestionAsked, self._question_asked),
            "question.answered": on_auction(QuestionAnswered, self._question_answered),
            "auction.amended": on_auction(AuctionAmended, self._amended),
            "auction.github_access_lost": on_auction(GithubAccessLost, self._github_access_lost),
        }
        self.handlers: dict[str, Handler] = {
            "bid.placed": on(BidPlaced, self._outbid),
            "vendor.verification_decided": on(VerificationDecided, self._verification),
            "token.issued_for_user": on(TokenIssuedForUser, self._token_issued),
            "payment.released": on(PaymentReleased, self._paid),
            "payment.executed": on(PaymentExecuted, self._executed),
        }

    async def __call__(self, conn: Conn, event: StreamEvent) -> None:
        about = self.about_auction.get(event.type)
        if about is not None:
            auction = await self._auction(conn, event.auction_id)
            if auction is not None:
                await about(conn, event.event, auction)
            return
        handler = self.handlers.get(event.type)
        if handler is not None:
            await handler(conn, event.event)

    def link(self, path: str) -> str:
        return f"{self.settings.public_url}{path}"

    async def _send(
        self, conn: Conn, key: str, event: Received, user: Fields, subject: str, body: str
    ) -> None:
        text = (
            f"Hello {user['name']},\n\n{body.strip()}\n\n"
            f"-- \nThe micro-purchase marketplace, {self.settings.public_url}\n"
            f"Times are shown in {self.settings.timezone}.\n"
        )
        await queries.insert_mail(
            conn, key, event.event_id, user["id"], user["email"], subject, text
        )
        # The same words in the app, under the same key: one message, two ways to read it.
        await queries.insert_notification(
            conn, key, event.event_id, user["id"], subject, body.strip()
        )

    async def _to_each(
        self,
        conn: Conn,
        event: Received,
        people: list[Any],
        key: Callable[[Any], str],
        subject: str,
        body: str,
    ) -> None:
        """The same message to each person, under the key each one's copy is kept by."""
        for person in people:
            await self._send(conn, key(person), event, person, subject, body)

    async def _auction(self, conn: Conn, auction_id: int | None) -> Row | None:
        return None if auction_id is None else await queries.get_auction_brief(conn, auction_id)

    def _auction_link(self, auction: Row) -> str:
        return self.link(f"/auctions/{auction['id']}")

    async def _to_buyer(
        self, conn: Conn, event: Received, auction: Row, subject: str, body: str
    ) -> None:
        buyer = {
            "id": auction["created_by"],
            "email": auction["buyer_email"],
            "name": auction["buyer_name"],
        }
        await self._send(conn, f"{event.event_id}:buyer", event, buyer, subject, body)

    async def _published(self, conn: Conn, event: AuctionPublished, a: Row) -> None:
        opens = when(self.settings, event.starts_at)
        closes = when(self.settings, event.ends_at)
        await self._to_buyer(
            conn,
            event,
            a,
            f"Published: {a['title']}",
            f'Your auction "{a["title"]}" is published. Bidding opens {opens} and closes '
            f"{closes}.\n\n{self._auction_link(a)}",
        )

    async def _opened(self, conn: Conn, event: AuctionOpened, a: Row) -> None:
        closes = when(self.settings, event.ends_at)
        await self._to_buyer(
            conn,
            event,
            a,
            f"Bidding is open: {a['title']}",
            f'Bidding on "{a["title"]}" is open until {closes}.\n\n{self._auction_link(a)}',
        )

    async def _outbid(self, conn: Conn, event: BidPlaced) -> None:
        """The bidder whose low bid this one beat. Only reverse auctions emit bid.placed
        before close, and the words name the amount, never who bid it (DESIGN §4)."""
        auction_id, bid_id = event.auction_id, event.bid_id
        outbid = await queries.get_outbid_bidder(conn, auction_id, bid_id)
        if outbid is None:
            return
        amount = money(event.amount_cents)
        closes = when(self.settings, event.ends_at)
        await self._send(
            conn,
            f"bid:{bid_id}:outbid",
            event,
            outbid,
            f"Outbid: {outbid['title']}",
            f'You have been outbid on "{outbid["title"]}": the lowest bid is now {amount}. '
            f"Bidding closes {closes}.\n\n{self.link(f'/auctions/{auction_id}')}",
        )

    async def _awarded(self, conn: Conn, event: AuctionAwarded, a: Row) -> None:
        winner_id, amount, award_id = event.winner_id, event.amount_cents, event.award_id
        link = self._auction_link(a)
        due = when(self.settings, a["delivery_due_at"]) if a["delivery_due_at"] else None
        winner = await queries.get_user_contact(conn, winner_id)
        if winner is not None:
            closed = when(self.settings, a["ends_at"])
            deliver = f" Deliver a merged pull request by {due}." if due else ""
            deliver = f" Bidding closed {closed}.{deliver}"
            await self._send(
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
        await self._to_each(
            conn,
            event,
            [b for b in bidders if b["id"] != winner_id],
            lambda bidder: f"auction:{a['id']}:lost:{bidder['id']}",
            f"Auction closed: {a['title']}",
            f'"{a["title"]}" was awarded to another bidder at {money(amount)}. '
            f"Thank you for bidding.\n\n{link}",
        )
        await self._to_buyer(
            conn,
            event,
            a,
            f"Awarded: {a['title']}",
            f'"{a["title"]}" was awarded to {event.winner_alias} for {money(amount)}.\n\n{link}',
        )

    async def _no_bids(self, conn: Conn, event: AuctionClosedNoBids, a: Row) -> None:
        await self._to_buyer(
            conn,
            event,
            a,
            f"Closed with no bids: {a['title']}",
            f'"{a["title"]}" closed without any bid. You can copy it into a new draft '
            f"with a longer window or a higher cap.\n\n{self._auction_link(a)}",
        )

    async def _github_access_lost(self, conn: Conn, event: GithubAccessLost, a: Row) -> None:
        detail = event.detail
        await self._to_buyer(
            conn,
            event,
            a,
            f"GitHub App cannot read the repository: {a['title']}",
            f"{detail}\n\n{self._auction_link(a)}",
        )

    async def _cancelled(self, conn: Conn, event: AuctionCancelled, a: Row) -> None:
        reason = event.reason
        link = self._auction_link(a)
        await self._to_buyer(
            conn,
            event,
            a,
            f"Cancelled: {a['title']}",
            f'"{a["title"]}" was cancelled. Reason: {reason}\n\n{link}',
        )
        await self._to_each(
            conn,
            event,
            await queries.list_bidders(conn, a["id"]),
            lambda bidder: f"auction:{a['id']}:cancelled:{bidder['id']}",
            f"Cancelled: {a['title']}",
            f'"{a["title"]}", which you bid on, was cancelled and your bids are void. '
            f"Reason: {reason}\n\n{link}",
        )

    async def _verification(self, conn: Conn, event: VerificationDecided) -> None:
        user = await queries.get_user_contact(conn, event.user_id)
        if user is None:
            return
        if event.status == "verified":
            subject, body = "You are verified", "Your vendor account is verified: you can bid now."
        else:
            subject = "Verification refused"
            body = "Your vendor verification was refused. You can ask again with new details."
        await self._send(
            conn,
            f"{event.event_id}:vendor",
            event,
            user,
            subject,
            f"{body}\nReason: {event.reason}\n\n{self.link('/auctions')}",
        )

    async def _token_issued(self, conn: Conn, event: TokenIssuedForUser) -> None:
        """Someone issued a token that acts as this user: the user hears of it at once."""
        user = await queries.get_user_contact(conn, event.user_id)
        issuer = await queries.get_user_contact(conn, event.issued_by)
        if user is None:
            return
        who = f"{issuer['name']} ({issuer['email']})" if issuer is not None else "an administrator"
        await self._send(
            conn,
            f"{event.event_id}:token",
            event,
            user,
            "An API token was issued for your account",
            f"{who} issued an API token (number {event.token_id}) that acts as "
            "you on the marketplace. Everything done with it is recorded in the audit log as "
            "done with a token they issued.\n\nIf you did not expect this, tell your "
            f"department or revoke it from your account: {self.link('/me')}",
        )

    async def _delivered(self, conn: Conn, event: DeliverySubmitted, a: Row) -> None:
        await self._to_buyer(
            conn,
            event,
            a,
            f"Delivered: {a['title']}",
            f'The winner submitted a pull request for "{a["title"]}". It is being '
            f"verified on GitHub.\n\n{self._auction_link(a)}",
        )

    async def _to_review(self, conn: Conn, event: DeliveryVerified | UnknownEvent, a: Row) -> None:
        await self._to_each(
            conn,
            event,
            await queries.list_reviewers(conn, a["id"]),
            lambda reviewer: f"auction:{a['id']}:review:{event.event_id}:{reviewer['id']}",
            f"Awaiting review: {a['title']}",
            f'The delivery for "{a["title"]}" passed verification and awaits a '
            f"review.\n\n{self.link('/reviews')}",
        )

    async def _reviewed(self, conn: Conn, event: ReviewDecided | UnknownEvent, a: Row) -> None:
        review: ReviewDecided | ReviewOutcome = (
            event
            if isinstance(event, ReviewDecided)
            else msgspec.json.decode(event.raw, type=ReviewOutcome)
        )
        award_id = review.award_id
        winner = None if award_id is None else await queries.get_award_winner(conn, award_id)
        if winner is not None:
            accepted = review.decision == "accept"
            outcome = (
                "was accepted. The payment order is being prepared."
                if accepted
                else "was rejected."
            )
            await self._send(
                conn,
                f"{event.event_id}:winner",
                event,
                winner,
                f"Delivery {'accepted' if accepted else 'rejected'}: {a['title']}",
                f'Your delivery for "{a["title"]}" {outcome} Reason: '
                f"{review.reason}\n\n{self.link('/me/awards')}",
            )
        decision = review.decision
        await self._to_buyer(
            conn,
            event,
            a,
            f"Review {decision}: {a['title']}",
            f'The delivery for "{a["title"]}" was reviewed: {decision}. '
            f"{review.reason}\n\n{self._auction_link(a)}",
        )

    async def _executed(self, conn: Conn, event: PaymentExecuted) -> None:
        """Finance recorded the payout: the payee can look for the money now."""
        a = await self._auction(conn, event.auction_id)
        payee = await queries.get_user_contact(conn, event.payee_id)
        if payee is None:
            return
        title = a["title"] if a is not None else "your award"
        payment_id = event.payment_id
        await self._send(
            conn,
            f"{event.event_id}:payee",
            event,
            payee,
            f"Paid out: {title}",
            f'Finance has paid out the payment for "{title}". Once it reaches you, please '
            f"confirm receipt on the payment's page.\n\n{self.link(f'/payments/{payment_id}')}",
        )

    async def _details_provided(self, conn: Conn, event: PaymentDetailsProvided, a: Row) -> None:
        """The payee gave the details a released order lacked: finance can pay it now."""
        payment_id = event.payment_id
        await self._to_each(
            conn,
            event,
            await queries.list_finance(conn, a["id"]),
            lambda person: f"{event.event_id}:finance:{person['id']}",
            f"Payment details given: {a['title']}",
            f'The payee of payment {payment_id} for "{a["title"]}" has given their payment '
            f"details; the order can be paid out.\n\n{self.link(f'/payments/{payment_id}')}",
        )

    async def _question_asked(self, conn: Conn, event: QuestionAsked, a: Row) -> None:
        """A vendor asked: the department's buyers are asked to answer (who asked is on the
        dashboard, not in the mail)."""
        await self._to_each(
            conn,
            event,
            await queries.department_buyers(conn, a["id"]),
            lambda buyer: f"{event.event_id}:buyer:{buyer['id']}",
            f"New question: {a['title']}",
            f'A vendor asked a clarification question about "{a["title"]}". Your answer '
            f"is published to everyone and sent to every bidder.\n\n{self.link('/buyer')}",
        )

    async def _question_answered(self, conn: Conn, event: QuestionAnswered, a: Row) -> None:
        """An answer, to every bidder and every vendor who asked; it never says who asked."""
        question, answer = event.question, event.answer
        await self._to_each(
            conn,
            event,
            await queries.followers(conn, a["id"]),
            lambda person: f"{event.event_id}:follower:{person['id']}",
            f"Question answered: {a['title']}",
            f'The buyer answered a question about "{a["title"]}".\n\n'
            f"Question:\n{question}\n\nAnswer:\n{answer}\n\n{self._auction_link(a)}",
        )

    async def _amended(self, conn: Conn, event: AuctionAmended, a: Row) -> None:
        """An amendment, to every bidder and every vendor who asked, with the new close."""
        names = {"description": "description", "acceptance": "acceptance criteria"}
        changed = " and ".join(names.get(c, c) for c in event.changed)
        closes = when(self.settings, event.ends_at)
        moved = event.ends_at != event.previous_ends_at
        close = f"Bidding now closes {closes}." if moved else f"Bidding closes {closes}."
        await self._to_each(
            conn,
            event,
            await queries.followers(conn, a["id"]),
            lambda person: f"{event.event_id}:follower:{person['id']}",
            f"Amended: {a['title']}",
            f'The buyer amended the {changed or "task"} of "{a["title"]}". '
            f"Reason: {event.reason}\n{close} The previous text stays "
            f"readable on the auction's page.\n\n{self._auction_link(a)}",
        )

    async def _paid(self, conn: Conn, event: PaymentReleased) -> None:
        a = await self._auction(conn, event.auction_id)
        amount = money(event.amount_cents)
        payee = await queries.get_user_contact(conn, event.payee_id)
        if payee is not None:
            title = a["title"] if a is not None else "your award"
            await self._send(
                conn,
                f"{event.event_id}:payee",
                event,
                payee,
                f"Payment released: {title}",
                f'A payment of {amount} for "{title}" '
                f"was released to the buyer's finance office for payment to you.\n\n"
                + self.link(f"/payments/{event.payment_id}"),
            )
        if a is not None:
            await self._to_buyer(
                conn,
                event,
                a,
                f"Paid: {a['title']}",
                f'Payment of {amount} for "{a["title"]}" was released.\n\n{self._auction_link(a)}',
            )
