"""What payees, buyers and finance hear of a payment order: released, paid out, details
given."""

from __future__ import annotations

from marketplace.db import Conn, Row
from marketplace.events import PaymentDetailsProvided, PaymentExecuted, PaymentReleased
from marketplace.notifications import queries
from marketplace.notifications.writer import Writer, money


async def released(w: Writer, conn: Conn, event: PaymentReleased) -> None:
    """The payee and the buyer hear the payment was released."""
    a = await queries.get_auction_brief(conn, event.auction_id)
    amount = money(event.amount_cents)
    payee = await queries.get_user_contact(conn, event.payee_id)
    if payee is not None:
        title = a["title"] if a is not None else "your award"
        await w.send(
            conn,
            f"{event.event_id}:payee",
            event,
            payee,
            f"Payment released: {title}",
            f'A payment of {amount} for "{title}" '
            f"was released to the buyer's finance office for payment to you.\n\n"
            + w.link(f"/payments/{event.payment_id}"),
        )
    if a is not None:
        await w.to_buyer(
            conn,
            event,
            a,
            f"Paid: {a['title']}",
            f'Payment of {amount} for "{a["title"]}" was released.\n\n{w.auction_link(a)}',
        )


async def executed(w: Writer, conn: Conn, event: PaymentExecuted) -> None:
    """Finance recorded the payout: the payee can look for the money now."""
    a = await queries.get_auction_brief(conn, event.auction_id)
    payee = await queries.get_user_contact(conn, event.payee_id)
    if payee is None:
        return
    title = a["title"] if a is not None else "your award"
    payment_id = event.payment_id
    await w.send(
        conn,
        f"{event.event_id}:payee",
        event,
        payee,
        f"Paid out: {title}",
        f'Finance has paid out the payment for "{title}". Once it reaches you, please '
        f"confirm receipt on the payment's page.\n\n{w.link(f'/payments/{payment_id}')}",
    )


async def details_provided(w: Writer, conn: Conn, event: PaymentDetailsProvided, a: Row) -> None:
    """The payee gave the details a released order lacked: finance can pay it now."""
    payment_id = event.payment_id
    await w.to_each(
        conn,
        event,
        await queries.list_finance(conn, a["id"]),
        lambda person: f"{event.event_id}:finance:{person['id']}",
        f"Payment details given: {a['title']}",
        f'The payee of payment {payment_id} for "{a["title"]}" has given their payment '
        f"details; the order can be paid out.\n\n{w.link(f'/payments/{payment_id}')}",
    )
