"""What a vendor hears of their account: the verification decision, a token issued for them."""

from __future__ import annotations

from marketplace.db import Conn
from marketplace.events import TokenIssuedForUser, VerificationDecided
from marketplace.notifications import queries
from marketplace.notifications.writer import Writer


async def verification_decided(w: Writer, conn: Conn, event: VerificationDecided) -> None:
    """The vendor hears whether they are verified, and why."""
    user = await queries.get_user_contact(conn, event.user_id)
    if user is None:
        return
    if event.status == "verified":
        subject, body = "You are verified", "Your vendor account is verified: you can bid now."
    else:
        subject = "Verification refused"
        body = "Your vendor verification was refused. You can ask again with new details."
    await w.send(
        conn,
        f"{event.event_id}:vendor",
        event,
        user,
        subject,
        f"{body}\nReason: {event.reason}\n\n{w.link('/auctions')}",
    )


async def token_issued(w: Writer, conn: Conn, event: TokenIssuedForUser) -> None:
    """Someone issued a token that acts as this user: the user hears of it at once."""
    user = await queries.get_user_contact(conn, event.user_id)
    issuer = await queries.get_user_contact(conn, event.issued_by)
    if user is None:
        return
    who = f"{issuer['name']} ({issuer['email']})" if issuer is not None else "an administrator"
    await w.send(
        conn,
        f"{event.event_id}:token",
        event,
        user,
        "An API token was issued for your account",
        f"{who} issued an API token (number {event.token_id}) that acts as "
        "you on the marketplace. Everything done with it is recorded in the audit log as "
        "done with a token they issued.\n\nIf you did not expect this, tell your "
        f"department or revoke it from your account: {w.link('/me')}",
    )
