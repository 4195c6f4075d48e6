"""What is heard after the award: the delivery submitted, a review asked for and decided,
and the GitHub App losing the repository it verifies on."""

from __future__ import annotations

import msgspec

from marketplace.db import Conn, Row
from marketplace.events import DeliverySubmitted, DeliveryVerified, GithubAccessLost, ReviewDecided
from marketplace.notifications import queries
from marketplace.notifications.writer import Writer
from marketplace.streams.consumer import UnknownEvent


class ReviewOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What the review's words read of ``auction.reviewed``, a tag outside the union whose
    fields may each be missing."""

    award_id: int | None = None
    decision: str = "decided"
    reason: str = ""


async def delivered(w: Writer, conn: Conn, event: DeliverySubmitted, a: Row) -> None:
    """The buyer hears the winner submitted a pull request."""
    await w.to_buyer(
        conn,
        event,
        a,
        f"Delivered: {a['title']}",
        f'The winner submitted a pull request for "{a["title"]}". It is being '
        f"verified on GitHub.\n\n{w.auction_link(a)}",
    )


async def to_review(w: Writer, conn: Conn, event: DeliveryVerified | UnknownEvent, a: Row) -> None:
    """Each reviewer of the auction is asked to review the delivery."""
    await w.to_each(
        conn,
        event,
        await queries.list_reviewers(conn, a["id"]),
        lambda reviewer: f"auction:{a['id']}:review:{event.event_id}:{reviewer['id']}",
        f"Awaiting review: {a['title']}",
        f'The delivery for "{a["title"]}" passed verification and awaits a '
        f"review.\n\n{w.link('/reviews')}",
    )


async def reviewed(w: Writer, conn: Conn, event: ReviewDecided | UnknownEvent, a: Row) -> None:
    """The winner and the buyer hear the review's decision and its reason."""
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
            "was accepted. The payment order is being prepared." if accepted else "was rejected."
        )
        await w.send(
            conn,
            f"{event.event_id}:winner",
            event,
            winner,
            f"Delivery {'accepted' if accepted else 'rejected'}: {a['title']}",
            f'Your delivery for "{a["title"]}" {outcome} Reason: '
            f"{review.reason}\n\n{w.link('/me/awards')}",
        )
    decision = review.decision
    await w.to_buyer(
        conn,
        event,
        a,
        f"Review {decision}: {a['title']}",
        f'The delivery for "{a["title"]}" was reviewed: {decision}. '
        f"{review.reason}\n\n{w.auction_link(a)}",
    )


async def github_access_lost(w: Writer, conn: Conn, event: GithubAccessLost, a: Row) -> None:
    """The buyer hears the GitHub App cannot read the auction's repository."""
    detail = event.detail
    await w.to_buyer(
        conn,
        event,
        a,
        f"GitHub App cannot read the repository: {a['title']}",
        f"{detail}\n\n{w.auction_link(a)}",
    )
