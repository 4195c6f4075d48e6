"""Proof that a self sign-up owns its e-mail address (issue 21, finding 6).

A self sign-up gets its API token at once and may ask to be verified, but an admin (or the
registry check) cannot verify it, so it cannot bid, until it opens the link mailed to its
address and confirms. Without this anyone could sign up with someone else's address and
block their later GitHub sign-in. The link carries a random token whose hash alone is
stored; it works once, for 48 hours, and only while the account still has that address.
Opening it shows a page with a button (a POST with the page's CSRF token), so a mail
scanner that fetches links confirms nothing. Users made by an admin or by GitHub sign-in
are confirmed when made.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from marketplace import outbox
from marketplace.accounts import queries
from marketplace.audit.record import Actor, record
from marketplace.auth import Caller
from marketplace.db import Conn, Pool, Row
from marketplace.errors import Conflict
from marketplace.events import EmailConfirmationSent
from marketplace.notifications import queries as mail

CONFIRM_SECONDS = 48 * 3600
PATH = "/confirm-email"


def _hash(token: str) -> bytes:
    return hashlib.sha256(b"email-confirmation\x00" + token.encode()).digest()


async def mail_link(conn: Conn, public_url: str, user: Row, event_id: int) -> None:
    """In the sign-up's transaction: store a new link and queue the mail that carries it."""
    token = secrets.token_urlsafe(32)
    await queries.insert_email_confirmation(
        conn, user["id"], user["email"], _hash(token), CONFIRM_SECONDS
    )
    await mail.insert_mail(
        conn,
        f"{event_id}:confirm-email",
        event_id,
        user["id"],
        user["email"],
        "Confirm your e-mail address",
        f"Hello {user['name']},\n\nYou signed up to the micro-purchase marketplace with this "
        "address. Open this link and press the button to confirm it; until then your vendor "
        f"account cannot be verified or bid:\n\n{public_url}{PATH}?token={token}\n\n"
        "The link works once, within 48 hours. If you did not sign up, ignore this mail.\n",
    )


async def pending(pool: Pool, token: str) -> Any:
    """The link's user and address if it can still be used, else None."""
    if not token or len(token) > 100 or not token.isascii():
        return None
    async with pool.acquire() as conn:
        return await queries.find_email_confirmation(conn, _hash(token))


async def confirm(pool: Pool, token: str, request_id: str) -> int | None:
    """Confirm the address behind the link; the user's id, or None if the link is spent,
    expired, unknown or no longer the account's address."""
    if not token or len(token) > 100 or not token.isascii():
        return None
    async with pool.acquire() as conn, conn.transaction():
        user_id = await queries.use_email_confirmation(conn, _hash(token))
        if user_id is not None:
            actor = Actor(user_id=user_id, role="vendor", request_id=request_id)
            await record(conn, actor, "user.email_confirmed", "user", user_id)
    return user_id


async def send_again(pool: Pool, caller: Caller, public_url: str, request_id: str) -> None:
    """Mail the caller a new link (earlier ones keep working until they expire)."""
    async with pool.acquire() as conn, conn.transaction():
        user = await queries.get_user(conn, caller.id)
        if user is None or user["email_confirmed"]:
            raise Conflict("email_already_confirmed", "your e-mail address is already confirmed")
        event_id = await outbox.emit(conn, EmailConfirmationSent(user_id=caller.id))
        await mail_link(conn, public_url, user, event_id)
        await record(
            conn,
            caller.actor("vendor", request_id),
            "user.email_confirmation_sent",
            "user",
            caller.id,
        )
