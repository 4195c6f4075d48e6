"""What is heard of clarifications: a question to the buyers, the answer and amendments to
every bidder and every vendor who asked (never who asked)."""

from __future__ import annotations

from marketplace.db import Conn, Row
from marketplace.events import AuctionAmended, QuestionAnswered, QuestionAsked
from marketplace.notifications import queries
from marketplace.notifications.writer import Writer, when


async def question_asked(w: Writer, conn: Conn, event: QuestionAsked, a: Row) -> None:
    """A vendor asked: the department's buyers are asked to answer (who asked is on the
    dashboard, not in the mail)."""
    await w.to_each(
        conn,
        event,
        await queries.department_buyers(conn, a["id"]),
        lambda buyer: f"{event.event_id}:buyer:{buyer['id']}",
        f"New question: {a['title']}",
        f'A vendor asked a clarification question about "{a["title"]}". Your answer '
        f"is published to everyone and sent to every bidder.\n\n{w.link('/buyer')}",
    )


async def question_answered(w: Writer, conn: Conn, event: QuestionAnswered, a: Row) -> None:
    """An answer, to every bidder and every vendor who asked; it never says who asked."""
    question, answer = event.question, event.answer
    await w.to_each(
        conn,
        event,
        await queries.followers(conn, a["id"]),
        lambda person: f"{event.event_id}:follower:{person['id']}",
        f"Question answered: {a['title']}",
        f'The buyer answered a question about "{a["title"]}".\n\n'
        f"Question:\n{question}\n\nAnswer:\n{answer}\n\n{w.auction_link(a)}",
    )


async def amended(w: Writer, conn: Conn, event: AuctionAmended, a: Row) -> None:
    """An amendment, to every bidder and every vendor who asked, with the new close."""
    names = {"description": "description", "acceptance": "acceptance criteria"}
    changed = " and ".join(names.get(c, c) for c in event.changed)
    closes = when(w.settings, event.ends_at)
    moved = event.ends_at != event.previous_ends_at
    close = f"Bidding now closes {closes}." if moved else f"Bidding closes {closes}."
    await w.to_each(
        conn,
        event,
        await queries.followers(conn, a["id"]),
        lambda person: f"{event.event_id}:follower:{person['id']}",
        f"Amended: {a['title']}",
        f'The buyer amended the {changed or "task"} of "{a["title"]}". '
        f"Reason: {event.reason}\n{close} The previous text stays "
        f"readable on the auction's page.\n\n{w.auction_link(a)}",
    )
